"""VQA-v2: open questions with ten human answers, scored by the official VQA accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunebench.data.formats.vqav2 import load_vqav2
from tunebench.data.records import Record
from tunebench.evaluation.metrics import METRICS
from tunebench.evaluation.tasks import Task, expect_inputs, manifest_folder, register_task


def load(inputs: list[Path], image_folder: Path | None) -> list[Record]:
    expect_inputs("vqav2", inputs, 1, 2, "QUESTIONS.json [ANNOTATIONS.json]")
    return load_vqav2(inputs[0], inputs[1] if len(inputs) > 1 else None, image_folder)


def load_manifest(root: Path, entry: dict[str, Any]) -> list[Record]:
    return load([root / entry["questions"], root / entry["annotations"]], manifest_folder(root, entry))


def train_answer(record: Record) -> str:
    return record.meta.get("multiple_choice_answer") or record.reference_answer


TASK = register_task(Task(
    name="vqav2", label="VQA-v2", metric=METRICS["vqav2"], load=load, load_manifest=load_manifest,
    breakdown=lambda summary: {k: v["accuracy"] for k, v in summary.get("per_answer_type", {}).items()},
    question_type="question_type", train_answer=train_answer,
))
