"""POPE: `coco_pope_<split>.json`, JSON lines {"question_id", "image", "text", "label"} with
label "yes"/"no"; splits random, popular and adversarial differ only in how absent objects are chosen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tunebench.core.errors import DataError
from tunebench.core.io import atomic_write_text, read_jsonl
from tunebench.data.formats._common import image_path, require
from tunebench.data.records import Record, Turn

TASK = "pope"
SPLITS = ("random", "popular", "adversarial")


@dataclass(frozen=True)
class PopeItem:
    question_id: int
    image: str
    text: str
    label: str
    skill: str | None = "existence"


def file_name(split: str) -> str:
    return f"coco_pope_{split}.json"


def write_pope(path: Path, items: list[PopeItem]) -> Path:
    lines = []
    for item in items:
        row = {"question_id": item.question_id, "image": item.image, "text": item.text, "label": item.label}
        if item.skill:
            row["skill"] = item.skill
        lines.append(json.dumps(row, ensure_ascii=False))
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def split_of(path: Path) -> str | None:
    """'random' for coco_pope_random.json and the like; None when the name does not say."""
    stem = path.stem
    return next((s for s in SPLITS if stem.endswith(f"_{s}")), None)


def load_pope(path: str | Path, image_folder: str | Path | None = None, split: str | None = None) -> list[Record]:
    path = Path(path)
    split = split or split_of(path)
    if split is None:
        raise DataError(f"cannot tell the POPE split from the file name; name one of {SPLITS}", where=str(path))
    records = []
    for i, row in enumerate(read_jsonl(path)):
        where = f"{path}:{i + 1}"
        qid = require(row, "question_id", (int, str), where)
        label = require(row, "label", str, where).strip().lower()
        if label not in ("yes", "no"):
            raise DataError(f"label must be 'yes' or 'no', got {row['label']!r}", where=where)
        meta = {"question_id": qid, "split": split, "skill": row.get("skill", "existence")}
        records.append(Record(
            id=f"{split}-{qid}", image=image_path(image_folder, require(row, "image", str, where)),
            turns=(Turn("human", require(row, "text", str, where)),), answers=(label,), task=TASK, meta=meta,
        ))
    return records
