"""A whole recipe: Q-Former pretraining when the design needs it, then each stage from the previous one."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from tunebench.core.errors import DataError, UserError
from tunebench.core.io import read_json
from tunebench.data.records import Record, records_hash
from tunebench.train.loop import StepHook
from tunebench.train.recipes import Recipe
from tunebench.train.stage import run_stage


@dataclass
class TrainData:
    captions: list[Record]  # stage 1 (alignment)
    instructions: list[Record]  # stage 2 (instruction tuning)

    def for_stage(self, kind: str) -> list[Record]:
        return self.captions if kind == "captions" else self.instructions


def load_train_data(shapes: Path | None = None, captions: Path | None = None, instructions: Path | None = None,
                    image_folder: Path | None = None, skip_bad: bool = False) -> TrainData:
    """Validated training records, from a Shapes folder's manifest or from explicit LLaVA JSON files."""
    from tunebench.data.validate import load_llava_for_training

    if shapes is not None:
        if not (Path(shapes) / "manifest.json").is_file():
            raise DataError("no manifest.json: not a folder made by `tunebench data shapes`",
                            where=f"--shapes {shapes}")
        manifest = read_json(Path(shapes) / "manifest.json")["train"]

        def load(entry: dict) -> list[Record]:
            return load_llava_for_training(Path(shapes) / entry["file"], Path(shapes) / entry["image_folder"],
                                           skip_bad=skip_bad)

        return TrainData(load(manifest["pretrain"]), load(manifest["instruct"]))
    folder = image_folder or Path(".")
    return TrainData(
        load_llava_for_training(captions, folder, skip_bad=skip_bad) if captions else [],
        load_llava_for_training(instructions, folder, skip_bad=skip_bad) if instructions else [],
    )


def qformer_run_dir(out_root: Path) -> Path:
    return Path(out_root) / "qformer"


def ensure_qformer(recipe: Recipe, data: TrainData, out_root: Path, tower, seed: int) -> Path:
    """Pretrain the Q-Former on the captions unless a finished pretraining run is already there."""
    from tunebench.train.qformer_pretrain import PretrainConfig, is_pretrained, pretrain_qformer
    from tunebench.train.stage import claim_run_dir, optim_spec

    run = qformer_run_dir(out_root)
    recipe.qformer_optim.seed = seed
    claim_run_dir(run, {"qformer": asdict(recipe.model.qformer), "optim": optim_spec(recipe.qformer_optim),
                        "vision": recipe.model.vision, "data": records_hash(data.captions)})
    if not is_pretrained(run):
        pretrain_qformer(data.captions, tower, PretrainConfig(recipe.model.qformer, recipe.qformer_optim), run)
    return run


DATA_FLAG = {"captions": "--captions (or --shapes)", "instructions": "--instructions (or --shapes)"}


def check_stage_names(recipe: Recipe, wanted: list[str]) -> None:
    """Every requested stage exists in the recipe (a typo is a usage error, before any data loads)."""
    names = [s.name for s in recipe.stages]
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise UserError(f"unknown stage {unknown[0]!r} (recipe {recipe.name} has {', '.join(names)})",
                        where="--stage")


def check_stages(recipe: Recipe, wanted: list[str], data: TrainData) -> None:
    """Before any model loads: every requested stage exists in the recipe and has records to train on."""
    check_stage_names(recipe, wanted)
    for stage in recipe.stages:
        if stage.name in wanted and not data.for_stage(stage.data):
            raise UserError(f"{stage.name} trains on {stage.data} and none were given: pass {DATA_FLAG[stage.data]}, "
                            f"or train only the stages you have data for (--stage)", where=stage.name)


def train_recipe(recipe: Recipe, data: TrainData, out_root: Path, tower, stages: list[str] | None = None,
                 init: Path | None = None, seed: int = 0, resume: bool = True,
                 qformer_run: Path | None = None, on_step: dict[str, StepHook] | None = None,
                 keep_checkpoints: bool = False) -> dict[str, dict]:
    """Run the recipe's stages in order into `out_root/<stage>`; returns each stage's summary. `on_step` maps a
    stage's name to a hook its training loop calls at every step (the bench's learning curves);
    `keep_checkpoints` keeps each finished stage's resumable checkpoint."""
    out_root = Path(out_root)
    wanted = stages or [s.name for s in recipe.stages]
    check_stages(recipe, wanted, data)
    if recipe.pretrain_qformer and qformer_run is None and init is None:
        qformer_run = ensure_qformer(recipe, data, out_root, tower, seed)
    summaries: dict[str, dict] = {}
    previous = init
    for stage in recipe.stages:
        if stage.name not in wanted:
            continue
        records = data.for_stage(stage.data)
        out = out_root / stage.name
        summaries[stage.name] = run_stage(recipe, stage, records, out, tower, init=previous,
                                          qformer_run=qformer_run, resume=resume, seed=seed,
                                          on_step=(on_step or {}).get(stage.name), keep_checkpoint=keep_checkpoints)
        previous = out
    return summaries
