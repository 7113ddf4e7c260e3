"""POPE: object-existence yes/no questions in three splits; mean F1 over the splits under LLaVA's rule, with
lmms-eval's exact match beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunebench.data.formats.pope import SPLITS, load_pope
from tunebench.data.records import Record
from tunebench.evaluation.metrics import METRICS
from tunebench.evaluation.tasks import Task, expect_inputs, manifest_folder, register_task


def load(inputs: list[Path], image_folder: Path | None) -> list[Record]:
    expect_inputs("pope", inputs, 1, len(SPLITS), "one or more coco_pope_<split>.json")
    return [r for path in inputs for r in load_pope(path, image_folder)]


def load_manifest(root: Path, entry: dict[str, Any]) -> list[Record]:
    return load([root / f for f in entry["files"]], manifest_folder(root, entry))


def breakdown(summary: dict[str, Any]) -> dict[str, float]:
    """F1 and yes-ratio per split, pooled F1, and lmms-eval's exact-match F1s."""
    splits = summary.get("splits", {})
    exact = summary.get("exact_match") or {}
    return ({f"{k} F1": v["f1"] for k, v in splits.items()} | {f"{k} yes-ratio": v["yes_ratio"]
                                                                for k, v in splits.items()}
            | {"pooled F1": summary["pooled"]["f1"]}
            | ({"exact-match mean F1": exact["mean_f1"], "exact-match pooled F1": exact["pooled"]["f1"]}
               if exact else {}))


def lmms_fields(record: Record) -> dict[str, Any]:
    return {"question_id": str(record.meta.get("question_id", record.id)), "category": record.meta.get("split", "")}


TASK = register_task(Task(
    name="pope", label="POPE mean F1", metric=METRICS["pope"], load=load, load_manifest=load_manifest,
    candidates=("Yes", "No"), breakdown=breakdown, question_type="split", blind_constants=("yes", "no"),
    blind_extra=("mean_accuracy",),  # F1 rewards "always yes"; accuracy (50 for any constant) shows no skill
    train_answer=lambda record: record.answers[0].capitalize(), lmms_fields=lmms_fields,
))
