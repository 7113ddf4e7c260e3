"""CLI: `tunebench train` and `tunebench pretrain-qformer`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def _recipe(name: str, config: Path | None, sets: list[str], precision: str = "auto", init: Path | None = None):
    """The recipe to train: the preset; the settings a finished `init` run trained with; the precision; then the
    user's YAML and `--set`s."""
    from tunebench.core.config import override, parse_sets, read_yaml
    from tunebench.train.recipes import get_recipe

    recipe = get_recipe(name)
    if init is not None:
        recipe = _as_run(recipe, init)
    recipe = override(recipe, {"qformer_optim.precision": precision,
                               **{f"{s.name}.optim.precision": precision for s in recipe.stages}})
    if config is not None:
        recipe = override(recipe, read_yaml(config), where=f"{config}: ")
    return override(recipe, parse_sets(sets))


def _as_run(recipe, init: Path):
    """The recipe with the model and stage settings of the run `init` (a tunebench stage run), said on screen."""
    from tunebench.core.io import read_json
    from tunebench.train.recipes import inherit_from_run, recipe_changes
    from tunebench.train.stage import SUMMARY

    if not (init / SUMMARY).is_file():
        return recipe
    inherited = inherit_from_run(recipe, read_json(init / SUMMARY), where=f"{init / SUMMARY}: ")
    changes = [c for c in recipe_changes(recipe, inherited) if not c["field"].startswith("model.")]
    if changes:
        console.print(f"settings of {init} as it was trained (not the {recipe.name} preset's; --set to change): "
                      + ", ".join(f"{c['field']} {c['as_run']}" for c in changes), highlight=False)
    return inherited


def train_command(
    recipe: str = typer.Option("llava-1.5", help="llava-1.5 | llava-1.5-lora | minigpt4"),
    out: Path = typer.Option(..., help="Run folder: <out>/stage1, <out>/stage2 (and <out>/qformer)."),
    shapes: Path | None = typer.Option(None, help="A folder made by `tunebench data shapes`."),
    captions: Path | None = typer.Option(None, help="Stage-1 caption data (LLaVA JSON)."),
    instructions: Path | None = typer.Option(None, help="Stage-2 instruction data (LLaVA conversation JSON)."),
    image_folder: Path | None = typer.Option(None, help="Folder the images of --captions/--instructions are in."),
    stage: list[str] = typer.Option([], help="Only these stages (stage1, stage2); default all."),
    init: Path | None = typer.Option(None, help="Start from a finished run (e.g. fine-tune it on custom data)."),
    config: Path | None = typer.Option(None, help="YAML overriding any recipe field."),
    set_: list[str] = typer.Option([], "--set", help="Override one field: --set stage2.optim.lr=1e-4"),
    seed: int = typer.Option(0, help="Seed of initialisation, data order and dropout."),
    skip_bad: bool = typer.Option(False, help="Drop invalid records (logged) instead of stopping."),
    resume: bool = typer.Option(True, help="Resume a killed run from its last checkpoint."),
    keep_checkpoints: bool = typer.Option(False, "--keep-checkpoints", help="Keep each finished stage's "
                                          "resumable checkpoint (deleted once the stage's weights are saved)."),
    precision: str = typer.Option("auto", help="Every stage's: auto (bf16 where the hardware computes it natively, "
                                               "else fp32) | fp32 | bf16. --set stageN.optim.precision wins."),
) -> None:
    """Train a recipe's stages. Custom data: --init RUN/stage2 --stage stage2 --instructions my.json."""
    from tunebench.components import load_vision_tower
    from tunebench.core.errors import UserError
    from tunebench.core.lock import claim_folder
    from tunebench.core.paths import input_file, input_folder, optional, output_folder
    from tunebench.train.pipeline import check_stage_names, check_stages, load_train_data, train_recipe

    if shapes is None and captions is None and instructions is None:
        raise UserError("give --shapes DIR, or --captions/--instructions files with --image-folder")
    optional(input_folder, init, "--init")
    plan = _recipe(recipe, config, set_, precision, init)
    check_stage_names(plan, stage)
    optional(input_folder, shapes, "--shapes")
    optional(input_file, captions, "--captions")
    optional(input_file, instructions, "--instructions")
    optional(input_folder, image_folder, "--image-folder")
    output_folder(out)
    data = load_train_data(shapes, captions, instructions, image_folder, skip_bad)
    check_stages(plan, stage or [s.name for s in plan.stages], data)
    with claim_folder(out):
        tower = load_vision_tower(plan.model.vision, allow_pickle=plan.model.allow_pickle)
        summaries = train_recipe(plan, data, out, tower, stages=stage or None, init=init, seed=seed, resume=resume,
                                 keep_checkpoints=keep_checkpoints)
    table = Table(title=f"{plan.name} -> {out}")
    for col in ("stage", "records", "steps", "loss first", "loss last", "samples/s", "wall s"):
        table.add_column(col)
    for name, s in summaries.items():
        t = s["train"]
        table.add_row(name, str(s["n_records"]), str(t["steps"]), f"{s['loss_first']:.3f}", f"{s['loss_last']:.3f}",
                      f"{t['samples_per_s']:.1f}", f"{s['stage_wall_s']:.0f}")
    console.print(table)


def pretrain_qformer_command(
    data: Path = typer.Option(..., help="Caption data: LLaVA plain JSON, or a cc_sbu_align folder."),
    image_folder: Path | None = typer.Option(None, help="Folder the images of a LLaVA JSON are in."),
    out: Path = typer.Option(..., help="Run folder for the pretrained Q-Former."),
    vision: str = typer.Option("efficientnet-lite0", help="Vision tower name or local folder."),
    set_: list[str] = typer.Option([], "--set", help="Override: --set optim.epochs=5 --set qformer.num_layers=4"),
    seed: int = typer.Option(0),
) -> None:
    """BLIP-2 stage 1 for the Q-Former (ITC + ITM) against the frozen vision tower."""
    from tunebench.components import load_vision_tower
    from tunebench.core.config import override, parse_sets
    from tunebench.core.lock import claim_folder
    from tunebench.core.paths import input_folder, input_path, optional, output_folder
    from tunebench.data.formats.loading import load_format
    from tunebench.models.qformer import QFormerConfig
    from tunebench.train.qformer_pretrain import PretrainConfig, pretrain_qformer
    from tunebench.train.recipes import get_recipe

    base = PretrainConfig(QFormerConfig(), get_recipe("minigpt4").qformer_optim)
    cfg = override(base, parse_sets(set_))
    cfg.optim.seed = seed
    fmt = "ccsbu" if input_path(data, "--data").is_dir() else "llava"
    optional(input_folder, image_folder, "--image-folder")
    output_folder(out)
    records = load_format(fmt, [data], image_folder)
    with claim_folder(out):
        summary = pretrain_qformer(records, load_vision_tower(vision), cfg, out)
    console.print(
        f"held-out ITC loss {summary['heldout_itc_before']:.3f} -> {summary['heldout_itc_after']:.3f}; "
        f"image->text recall@1 {summary['recall_at_1_before']:.1f} -> {summary['recall_at_1']:.1f} "
        f"(chance {summary['chance']:.1f}) on {summary['held_out_images']} held-out images")


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("pretrain-qformer")(pretrain_qformer_command)
