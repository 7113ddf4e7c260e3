"""GQA balanced questions (`testdev_balanced_questions.json`): {qid: {"imageId", "question", "answer",
"fullAnswer", "types": {"structural", "semantic", "detailed"}, "isBalanced", "groups", "entailed",
"equivalent", "semantic", "semanticStr", "annotations"}}. Images are `<imageId>.jpg`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunebench.core.errors import DataError
from tunebench.core.io import atomic_write_json, read_json
from tunebench.data.formats._common import find_image, require
from tunebench.data.records import Record, Turn

TASK = "gqa"
FILE_NAME = "testdev_balanced_questions.json"


@dataclass(frozen=True)
class GqaItem:
    qid: str
    image_id: str
    question: str
    answer: str
    full_answer: str
    structural: str
    semantic: str
    detailed: str
    skill: str | None = None


def write_gqa(path: Path, items: list[GqaItem]) -> Path:
    doc = {}
    for item in items:
        entry = {
            "semantic": [],
            "entailed": [],
            "equivalent": [item.qid],
            "question": item.question,
            "imageId": item.image_id,
            "isBalanced": True,
            "groups": {"global": None, "local": f"{item.detailed}-{item.answer}"},
            "answer": item.answer,
            "semanticStr": "",
            "annotations": {"answer": {}, "question": {}, "fullAnswer": {}},
            "types": {"detailed": item.detailed, "semantic": item.semantic, "structural": item.structural},
            "fullAnswer": item.full_answer,
        }
        if item.skill:
            entry["skill"] = item.skill
        doc[item.qid] = entry
    atomic_write_json(path, doc, indent=None)
    return path


def load_gqa(path: str | Path, image_folder: str | Path | None = None) -> list[Record]:
    """One record per question; meta carries the structural / semantic / detailed types."""
    path = Path(path)
    doc = read_json(path)
    if not isinstance(doc, dict):
        raise DataError("expected a JSON object mapping question ids to questions", where=str(path))
    records = []
    image_paths: dict[str, str] = {}
    for qid, q in doc.items():
        where = f"{path}: {qid}"
        image_id = require(q, "imageId", str, where)
        types = require(q, "types", dict, where)
        meta = {
            "question_id": qid,
            "image_id": image_id,
            "structural": types.get("structural"),
            "semantic": types.get("semantic"),
            "detailed": types.get("detailed"),
            "full_answer": q.get("fullAnswer"),
        }
        if "skill" in q:
            meta["skill"] = q["skill"]
        if image_id not in image_paths:
            image_paths[image_id] = find_image(image_folder, image_id)
        # The test split ships without answers; test-dev and val have them.
        answers = (require(q, "answer", str, where),) if q.get("answer") is not None else ()
        records.append(Record(
            id=str(qid), image=image_paths[image_id],
            turns=(Turn("human", require(q, "question", str, where)),), answers=answers,
            task=TASK, meta=meta,
        ))
    return records
