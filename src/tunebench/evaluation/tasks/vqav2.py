"""VQA-v2: open questions with ten human answers, scored by the official VQA accuracy."""

from __future__ import annotations

from collections.abc import Iterable
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


def vqa_answers(answers: Iterable[str]) -> list[dict[str, Any]]:
    """The annotation layout of VQA-v2, answer ids included: its scorer leaves one answer out by comparing
    these dicts, so ten bare {"answer": ...} dicts would leave out every copy of the same answer at once."""
    return [{"answer": a, "answer_confidence": "yes", "answer_id": i} for i, a in enumerate(answers, 1)]


def lmms_fields(record: Record) -> dict[str, Any]:
    return {"question_id": record.meta.get("question_id", record.id), "answers": vqa_answers(record.answers)}


TASK = register_task(Task(
    name="vqav2", label="VQA-v2", metric=METRICS["vqav2"], load=load, load_manifest=load_manifest,
    breakdown=lambda summary: {k: v["accuracy"] for k, v in summary.get("per_answer_type", {}).items()},
    question_type="question_type", train_answer=train_answer, lmms_fields=lmms_fields,
))
