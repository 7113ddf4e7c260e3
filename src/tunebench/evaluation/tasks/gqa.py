"""GQA: compositional questions with one answer, scored by exact match as LLaVA's eval_gqa does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunebench.data.formats.gqa import load_gqa
from tunebench.data.records import Record
from tunebench.evaluation.metrics import METRICS
from tunebench.evaluation.tasks import Task, expect_inputs, manifest_folder, register_task


def load(inputs: list[Path], image_folder: Path | None) -> list[Record]:
    expect_inputs("gqa", inputs, 1, 1, "QUESTIONS.json")
    return load_gqa(inputs[0], image_folder)


def load_manifest(root: Path, entry: dict[str, Any]) -> list[Record]:
    return load([root / entry["questions"]], manifest_folder(root, entry))


TASK = register_task(Task(
    name="gqa", label="GQA", metric=METRICS["gqa"], load=load, load_manifest=load_manifest,
    breakdown=lambda summary: {k: v["accuracy"] for k, v in summary.get("per_structural", {}).items()},
    question_type="detailed",
))
