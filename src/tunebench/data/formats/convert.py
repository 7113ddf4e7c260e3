"""Benchmark records to LLaVA conversation JSON, to fine-tune on a benchmark's training split."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tunebench.core.errors import DataError
from tunebench.data.records import IMAGE_TOKEN, Record


def _task(record: Record):
    from tunebench.evaluation.tasks import get_task

    return get_task(record.task)


def _relative_image(record: Record, relative_to: Path | None) -> str:
    assert record.image is not None
    if relative_to is None:
        return record.image
    rel = os.path.relpath(Path(record.image).resolve(), Path(relative_to).resolve())
    if rel.startswith(".."):
        raise DataError(f"image {record.image!r} is outside {relative_to}", where=f"record {record.id}")
    return Path(rel).as_posix()


def _conversation(record: Record) -> list[dict[str, str]]:
    if not record.answers:  # a training conversation already (LLaVA JSON, captions)
        return [{"from": t.role, "value": t.text} for t in record.turns]
    task = _task(record)
    question = task.training_question(record)
    first = f"{IMAGE_TOKEN}\n{question}" if record.image else question
    return [{"from": "human", "value": first}, {"from": "gpt", "value": task.train_answer(record)}]


def to_llava(records: list[Record], relative_to: Path | None) -> list[dict[str, Any]]:
    """One LLaVA record per input record; image paths relative to `relative_to` when given."""
    unanswered = [r.id for r in records if r.task not in ("llava", "ccsbu") and not r.answers]
    if unanswered:
        raise DataError(f"{len(unanswered)} questions have no reference answer (first: {unanswered[0]}); "
                        "a test split without answers cannot become training data")
    out = []
    for record in records:
        item: dict[str, Any] = {"id": f"{record.task}-{record.id}"}
        if record.image:
            item["image"] = _relative_image(record, relative_to)
        item["conversations"] = _conversation(record)
        if record.skill:
            item["skill"] = record.skill
        out.append(item)
    return out
