"""Perception ceiling: the bench's LLM trained on the bench's stage-2 data with the LLaVA arm's stage-2 recipe,
but told in words what each image shows instead of seeing it.

It separates two reasons a design can fail to beat the blind baseline. If the ceiling is not above the blind
baseline either, the training budget is too small for the questions whatever the connector; if the ceiling is
far above it and a design is not, the design does not get the image's content into the LLM. The words are the
scene graph's description (every object with its size, colour, shape and where it is, the count, one relation),
so the ceiling needs the Shapes world and runs on it only.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from tunebench.bench.config import BenchConfig
from tunebench.core.errors import UserError
from tunebench.core.io import atomic_write_json, read_json, sha256_file, sha256_json
from tunebench.data.records import IMAGE_TOKEN, Record, Turn
from tunebench.train.loop import TrainResult

REFERENCE_DESIGN = "llava"  # the design whose stage 2 trains the LLM itself: the recipe the ceiling copies


def scene_descriptions(shapes: Path) -> dict[str, str]:
    """Image content hash -> a description of everything in the image.

    Keyed by content, not by name: the MME set holds copies of test images under other names.
    """
    from tunebench.data.shapes.text import description
    from tunebench.data.shapes.world import Scene

    texture = read_json(shapes / "manifest.json")["settings"]["texture"]
    scenes = [Scene.from_json(s) for s in read_json(shapes / "scenes.json")["scenes"]]
    return {sha256_file(shapes / "images" / s.split / s.file):
            description(s, texture, random.Random(f"ceiling:{s.split}:{s.image_id}")) for s in scenes}


def in_words(turns: Sequence[Turn], text: str) -> list[Turn]:
    """The conversation with its image placeholder replaced by `text` (put first where there is none)."""
    first, *rest = turns
    if IMAGE_TOKEN in first.text:
        opening = first.text.replace(IMAGE_TOKEN, text, 1)
    else:
        opening = f"{text}\n{first.text}"
    return [Turn(first.role, opening), *rest]


def _text_of(record: Record, texts: dict[str, str]) -> str:
    digest = sha256_file(record.image) if record.image and Path(record.image).is_file() else None
    if digest not in texts:
        raise UserError("no scene graph for this image; the perception ceiling runs on the Shapes world only",
                        where=f"record {record.id}: image {record.image}")
    return texts[digest]


def train_in_words(llm, records: Sequence[Record], texts: dict[str, str], stage, run_dir: Path) -> TrainResult:
    """Train every LLM weight on the records' conversations in words, with `stage`'s template and optimizer;
    resumes from the checkpoint in `run_dir` if one is there."""
    from tunebench.models.prompting import apply_template
    from tunebench.strategies.finetune import encode_examples, train_causal_lm

    tokenizer = llm.tokenizer
    apply_template(tokenizer, stage.template)
    conversations = [in_words(r.turns, _text_of(r, texts)) for r in records]
    examples = encode_examples(tokenizer, conversations, max_length=tokenizer.model_max_length)
    llm.model.requires_grad_(True)
    return train_causal_lm(llm.model, tokenizer, examples, stage.optim, run_dir, "ceiling", resume=True)


def score_in_words(generator, task, records: Sequence[Record], texts: dict[str, str],
                   scoring: str = "generate", resamples: int = 1000) -> dict[str, Any]:
    """The task's official metric on the answers to its questions asked about the description (greedy, or with
    `scoring="likelihood"` on a closed answer set the likelier candidate, as the bench scores that task), with
    the bench's 95% bootstrap interval over images."""
    from tunebench.bench.stats import headline_ci
    from tunebench.models.prompting import image_prompt

    metric = task.metric
    conversations = [in_words(image_prompt(task.question(r)), _text_of(r, texts)) for r in records]
    if scoring == "likelihood" and task.candidates:
        answers = generator.pick(conversations, task.candidates)
    else:
        answers = [a.text for a in generator.answer(conversations, task.max_new_tokens)]
    rows = [{**metric.evaluate(a, r.answers, r.meta), "id": r.id, "image": r.image}
            for a, r in zip(answers, records, strict=True)]
    summary = metric.aggregate(rows)
    interval = headline_ci(task.name, [rows], resamples)
    return {"value": summary["headline"]["value"], "low": interval["low"], "high": interval["high"],
            "metric": summary["headline"]["name"], "n_questions": len(rows), "by_skill": summary["by_skill"]}


def reference_stage2(cfg: BenchConfig):
    """Stage 2 of the first main arm of the reference design, as the bench runs it (profile overrides included)."""
    from tunebench.bench.config import arm_recipe

    arm = next((a for a in cfg.arms if a.design == REFERENCE_DESIGN and not a.ablation), None)
    if arm is None:
        raise UserError(f"the perception ceiling copies a {REFERENCE_DESIGN} arm's stage 2; the config has none")
    return arm, next(s for s in arm_recipe(cfg, arm).stages if s.name == "stage2")


def run_ceiling(cfg: BenchConfig, out: Path) -> dict[str, Any]:
    """Train and score the ceiling on the bench's data (generated into `out` as `tunebench bench` does)."""
    from tunebench.bench.pipeline import prepare_data
    from tunebench.components import load_llm
    from tunebench.core.device import resolve_precision
    from tunebench.core.provenance import environment
    from tunebench.evaluation.tasks import get_task
    from tunebench.strategies.generation import Generator
    from tunebench.train.checkpointing import remove_checkpoints
    from tunebench.train.stage import stage_spec

    if cfg.data.captions_file or cfg.data.instructions_file:
        raise UserError("the perception ceiling needs scene graphs: it runs on the generated Shapes world, "
                        "not on a config's own data files")
    arm, stage = reference_stage2(cfg)
    train, evals, info = prepare_data(cfg, out)
    texts = scene_descriptions(out / "data")
    stage = replace(stage, optim=replace(stage.optim, seed=cfg.seeds[0]))
    llm = load_llm(cfg.llm)
    precision = resolve_precision(cfg.precision)
    key_hash = sha256_json({"data": info["hash"], "llm": llm.weights_hash, "stage": stage_spec(stage),
                            "scoring": cfg.scoring, "eval_precision": precision.used})
    folder = out / "ceiling"
    done = folder / "results.json"
    finished = read_json(done) if done.is_file() else {}
    if finished.get("key_hash") == key_hash:
        return finished  # the same data, LLM, recipe and scoring were already measured
    _claim(folder, key_hash)
    result = train_in_words(llm, train.instructions, texts, stage, folder)
    generator = Generator(llm.model, llm.tokenizer, cfg.eval_batch_size)
    start = time.perf_counter()
    with precision.autocast():
        scores = {task: score_in_words(generator, get_task(task), records, texts, cfg.scoring,
                                       cfg.bootstrap_resamples) for task, records in evals.items()}
    results = {
        "what": f"{cfg.llm} trained on the bench's stage-2 records with {arm.label}'s stage-2 recipe, each image "
                "replaced by its scene description",
        "key_hash": key_hash, "data_hash": info["hash"], "llm": cfg.llm, "llm_hash": llm.weights_hash,
        "arm": arm.name, "scoring": cfg.scoring,
        "stage2": asdict(stage),
        "train": {"steps": result.steps, "samples": result.samples, "tokens": result.tokens,
                  "wall_s": round(result.wall_s, 1), "final_loss": result.losses[-1] if result.losses else None,
                  "precision": result.precision},
        "precision": precision.record(),
        "eval_s": round(time.perf_counter() - start, 1), "scores": scores,
        "blind_baseline": info["blind_baseline"], "environment": environment(),
    }
    atomic_write_json(done, results)
    remove_checkpoints(folder)  # they only served a resume; the LLM's weights are not a result of the ceiling
    return read_json(done)


def _claim(folder: Path, key_hash: str) -> None:
    """Mark `folder` as this ceiling's; a checkpoint left by another data, LLM or recipe is removed, not resumed."""
    from tunebench.train.checkpointing import remove_checkpoints

    mine = folder / "key.json"
    if mine.is_file() and read_json(mine).get("key_hash") == key_hash:
        return
    remove_checkpoints(folder)
    (folder / "results.json").unlink(missing_ok=True)
    (folder / "metrics.jsonl").unlink(missing_ok=True)  # the training log of that other run
    atomic_write_json(mine, {"key_hash": key_hash})


def ceiling_for_report(results: dict[str, Any], out: Path) -> dict[str, Any] | None:
    """The ceiling measured in `out` for exactly this bench (same data, base LLM, stage-2 recipe and scoring), as
    the report shows it; None if there is none.

    Per benchmark: its score and 95% interval, whether it is clearly above the blind baseline (the interval's
    lower end above it), and there the share of the blind-to-ceiling gap each arm closes, in percent."""
    from tunebench.train.stage import stage_spec

    path = out / "ceiling" / "results.json"
    if not path.is_file():
        return None
    found = read_json(path)
    arm = results["arms"].get(found.get("arm"))
    stages = {s["name"]: s for s in arm["config"]["stages"]} if arm else {}
    llm_hash = results.get("parts", {}).get("llm", {}).get("weights_hash")
    if (not found.get("scores") or any("low" not in v for v in found["scores"].values())  # one from before CIs
            or found.get("data_hash") != results["data"]["hash"]
            or found.get("scoring", "generate") != results["config"].get("scoring", "generate")
            or llm_hash is None or found.get("llm_hash") != llm_hash
            or "stage2" not in stages or stage_spec(stages["stage2"]) != stage_spec(found["stage2"])):
        return None
    blind = results["data"].get("blind_baseline", {})
    tasks = {}
    for task, score in found["scores"].items():
        base = blind.get(task)
        above = base is not None and min(score["low"], score["value"]) > base
        closed = {name: 100 * (a["tasks"][task]["mean"] - base) / (score["value"] - base)
                  for name, a in results["arms"].items() if task in a["tasks"]} if above else {}
        tasks[task] = {"value": score["value"], "low": score["low"], "high": score["high"],
                       "n_questions": score["n_questions"], "blind": base, "clearly_above_blind": above,
                       "gap_closed_pct": closed}
    return {"arm": found["arm"], "steps": found["train"]["steps"], "train_wall_s": found["train"]["wall_s"],
            "eval_s": found["eval_s"], "scoring": found.get("scoring", "generate"), "tasks": tasks}
