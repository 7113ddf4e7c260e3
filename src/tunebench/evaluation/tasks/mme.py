"""MME: yes/no question pairs per image, scored as accuracy + accuracy+ per subtask (perception total)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunebench.data.formats.mme import load_mme
from tunebench.data.records import Record
from tunebench.evaluation.metrics import METRICS
from tunebench.evaluation.tasks import Task, expect_inputs, register_task

SUBTASK_MAX = 200.0  # accuracy + accuracy+, each in percent


def load(inputs: list[Path], image_folder: Path | None) -> list[Record]:
    expect_inputs("mme", inputs, 1, 1, "MME_Benchmark folder")
    return load_mme(inputs[0])


def load_manifest(root: Path, entry: dict[str, Any]) -> list[Record]:
    return load([root / entry["root"]], None)


def train_prompt(record: Record) -> str:
    """MME's questions end with their own "Please answer yes or no."; converted data keeps it."""
    return record.question


def lmms_fields(record: Record) -> dict[str, Any]:
    """lmms-eval pairs an image's two questions by question_id."""
    return {"question_id": record.meta.get("image", record.image), "category": record.meta.get("subtask", "")}


TASK = register_task(Task(
    name="mme", label="MME perception", metric=METRICS["mme"], load=load, load_manifest=load_manifest,
    candidates=("Yes", "No"), drop=" Please answer yes or no.",
    breakdown=lambda summary: {k: v["score"] for k, v in summary.get("subtasks", {}).items()},
    question_type="subtask", blind_constants=("Yes", "No"),
    headline_max=lambda summary: SUBTASK_MAX * len(summary["subtasks"]),
    train_prompt=train_prompt, train_answer=lambda record: record.answers[0].capitalize(), lmms_fields=lmms_fields,
))
