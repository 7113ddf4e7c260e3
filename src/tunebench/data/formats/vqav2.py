"""VQA-v2: `v2_OpenEnded_mscoco_<subtype>_questions.json` + `v2_mscoco_<subtype>_annotations.json`.

Questions: {"info", "task_type", "data_type", "data_subtype", "questions": [{"image_id", "question",
"question_id"}], "license"}. Annotations: {"annotations": [{"question_id", "image_id", "question_type",
"answer_type", "multiple_choice_answer", "answers": [10 x {"answer", "answer_confidence",
"answer_id"}]}], ...}. Images follow COCO's rule `COCO_<subtype>_<image id, 12 digits>.jpg`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunebench.core.errors import DataError
from tunebench.core.io import atomic_write_json, read_json
from tunebench.data.formats._common import find_image, require, require_list
from tunebench.data.records import Record, Turn

TASK = "vqav2"
IMAGE_TEMPLATE = "COCO_{data_subtype}_{image_id:012d}"
ANSWER_TYPES = ("yes/no", "number", "other")


@dataclass(frozen=True)
class VqaItem:
    question_id: int
    image_id: int
    question: str
    question_type: str
    answer_type: str
    answers: tuple[str, ...]
    multiple_choice_answer: str
    skill: str | None = None


def file_names(subtype: str) -> tuple[str, str]:
    return f"v2_OpenEnded_mscoco_{subtype}_questions.json", f"v2_mscoco_{subtype}_annotations.json"


def _header(subtype: str) -> dict:
    return {
        "info": {"description": "Shapes world questions in the VQA-v2 layout (synthetic)", "url": "",
                 "version": "2.0", "year": 2024, "contributor": "tunebench", "date_created": "2024-01-01 00:00:00"},
        "license": {"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"},
        "data_subtype": subtype,
        "data_type": "mscoco",
    }


def write_vqav2(out_dir: Path, subtype: str, items: list[VqaItem]) -> tuple[Path, Path]:
    """Write the questions and annotations files; returns their paths."""
    q_name, a_name = file_names(subtype)
    header = _header(subtype)
    questions = []
    annotations = []
    for item in items:
        question = {"image_id": item.image_id, "question": item.question, "question_id": item.question_id}
        annotation = {
            "question_type": item.question_type,
            "multiple_choice_answer": item.multiple_choice_answer,
            "answers": [{"answer": a, "answer_confidence": "yes", "answer_id": i + 1}
                        for i, a in enumerate(item.answers)],
            "image_id": item.image_id,
            "answer_type": item.answer_type,
            "question_id": item.question_id,
        }
        if item.skill:
            question["skill"] = item.skill
            annotation["skill"] = item.skill
        questions.append(question)
        annotations.append(annotation)
    q_doc = {"info": header["info"], "task_type": "Open-Ended", "data_type": "mscoco",
             "license": header["license"], "data_subtype": subtype, "questions": questions}
    a_doc = {**header, "annotations": annotations}
    atomic_write_json(out_dir / q_name, q_doc, indent=None)
    atomic_write_json(out_dir / a_name, a_doc, indent=None)
    return out_dir / q_name, out_dir / a_name


def _annotations_by_id(path: Path) -> dict[int, dict]:
    doc = read_json(path)
    result = {}
    for i, ann in enumerate(require_list(doc, "annotations", str(path))):
        where = f"{path}: annotations[{i}]"
        qid = require(ann, "question_id", int, where)
        answers = require_list(ann, "answers", where)
        for j, answer in enumerate(answers):
            require(answer, "answer", str, f"{where}.answers[{j}]")
        require(ann, "answer_type", str, where)
        require(ann, "question_type", str, where)
        result[qid] = ann
    return result


def load_vqav2(questions_path: str | Path, annotations_path: str | Path | None = None,
               image_folder: str | Path | None = None, image_template: str = IMAGE_TEMPLATE) -> list[Record]:
    """Questions, with their 10 human answers when the annotations file is given (not for test-dev)."""
    questions_path = Path(questions_path)
    doc = read_json(questions_path)
    subtype = require(doc, "data_subtype", str, str(questions_path))
    annotations = _annotations_by_id(Path(annotations_path)) if annotations_path else {}
    records = []
    image_paths: dict[int, str] = {}
    for i, q in enumerate(require_list(doc, "questions", str(questions_path))):
        where = f"{questions_path}: questions[{i}]"
        qid = require(q, "question_id", int, where)
        image_id = require(q, "image_id", int, where)
        text = require(q, "question", str, where)
        meta = {"question_id": qid, "image_id": image_id, "split": subtype}
        answers: tuple[str, ...] = ()
        if annotations:
            ann = annotations.get(qid)
            if ann is None:
                raise DataError(f"question {qid} has no annotation", where=str(annotations_path))
            answers = tuple(a["answer"] for a in ann["answers"])
            meta |= {"question_type": ann["question_type"], "answer_type": ann["answer_type"],
                     "multiple_choice_answer": ann.get("multiple_choice_answer")}
        if "skill" in q:
            meta["skill"] = q["skill"]
        if image_id not in image_paths:
            stem = image_template.format(data_subtype=subtype, image_id=image_id)
            image_paths[image_id] = find_image(image_folder, stem)
        records.append(Record(id=str(qid), image=image_paths[image_id],
                              turns=(Turn("human", text),), answers=answers, task=TASK, meta=meta))
    return records
