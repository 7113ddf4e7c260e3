"""LLaVA conversation JSON: a list of {"id", "image" (optional, relative to an image folder),
"conversations": [{"from": "human"|"gpt", "value"}, ...]}, `<image>` once in the first human turn.

The schema rules live here so that the plain reader, the validator and the training loader agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from tunebench.core.errors import DataError
from tunebench.core.io import atomic_write_json, read_json
from tunebench.data.formats._common import image_path
from tunebench.data.records import IMAGE_TOKEN, Record, Turn

TASK = "llava"
ROLES = ("human", "gpt")
SHORT_ANSWER_SUFFIX = "\nAnswer the question using a single word or phrase."


class Problem(NamedTuple):
    """One thing wrong with one record: its index in the file, its id (if readable), the field."""

    index: int
    id: str | None
    field: str
    message: str

    def line(self) -> str:
        where = f"record {self.index}" if self.index >= 0 else "file"
        if self.id is not None:
            where += f" (id {self.id!r})"
        return f"{where} {self.field}: {self.message}"


def write_llava(path: Path, records: list[dict[str, Any]]) -> Path:
    atomic_write_json(path, records, indent=None)
    return path


def record_id(raw: Any) -> str | None:
    if isinstance(raw, dict) and isinstance(raw.get("id"), str | int) and not isinstance(raw.get("id"), bool):
        return str(raw["id"])
    return None


def _check_id(index: int, raw: dict, rid: str | None) -> list[Problem]:
    if "id" not in raw:
        return [Problem(index, None, "id", "missing")]
    if rid is None:
        return [Problem(index, None, "id", f"must be a string or an integer, got {type(raw['id']).__name__}")]
    if not rid.strip():
        return [Problem(index, rid, "id", "empty")]
    return []


def _check_image_field(index: int, raw: dict, rid: str | None) -> list[Problem]:
    image = raw.get("image")
    if image is None:
        return []
    if isinstance(image, list):
        return [Problem(index, rid, "image", f"a list of {len(image)} images is not supported; "
                                             "give one image path per record")]
    if not isinstance(image, str):
        return [Problem(index, rid, "image", f"must be a string path, got {type(image).__name__}")]
    if not image.strip():
        return [Problem(index, rid, "image", "empty path")]
    return []


def _check_turn(index: int, rid: str | None, j: int, turn: Any) -> list[Problem]:
    field = f"conversations[{j}]"
    if not isinstance(turn, dict):
        return [Problem(index, rid, field, f"must be an object, got {type(turn).__name__}")]
    problems = []
    role, value = turn.get("from"), turn.get("value")
    if not isinstance(role, str):
        problems.append(Problem(index, rid, f"{field}.from", "missing" if role is None else "must be a string"))
    elif role not in ROLES:
        problems.append(Problem(index, rid, f"{field}.from", f"must be 'human' or 'gpt', got {role!r}"))
    if not isinstance(value, str):
        problems.append(Problem(index, rid, f"{field}.value", "missing" if value is None else
                                f"must be a string, got {type(value).__name__}"))
    elif not value.replace(IMAGE_TOKEN, "").strip():
        kind = "answer" if role == "gpt" else "question"
        problems.append(Problem(index, rid, f"{field}.value", f"empty {kind}"))
    return problems


def _check_order(index: int, rid: str | None, turns: list[dict]) -> list[Problem]:
    """Turns alternate human/gpt from a human turn; the last one answers (only the first break is named)."""
    for j, turn in enumerate(turns):
        expected = ROLES[j % 2]
        if turn.get("from") in ROLES and turn["from"] != expected:
            return [Problem(index, rid, f"conversations[{j}].from",
                            f"expected {expected!r} (turns alternate, starting with 'human')")]
    if turns[-1].get("from") == "human":
        return [Problem(index, rid, f"conversations[{len(turns) - 1}].from",
                        "the conversation ends with a question that has no answer")]
    return []


def _check_placeholders(index: int, rid: str | None, raw: dict, turns: list[dict]) -> list[Problem]:
    """Exactly one placeholder in the questions when there is an image, none otherwise, never in answers."""
    image = raw.get("image")
    texts = [t["value"] if isinstance(t.get("value"), str) else "" for t in turns]
    problems = [Problem(index, rid, f"conversations[{j}].value", f"{IMAGE_TOKEN} in an answer")
                for j, (turn, text) in enumerate(zip(turns, texts, strict=True))
                if turn.get("from") == "gpt" and IMAGE_TOKEN in text]
    count = sum(text.count(IMAGE_TOKEN) for turn, text in zip(turns, texts, strict=True)
                if turn.get("from") != "gpt")
    if isinstance(image, str) and image.strip() and count != 1:
        problems.append(Problem(index, rid, "conversations",
                                f"{count} {IMAGE_TOKEN} placeholders for 1 image (need exactly 1)"))
    elif image is None and count:
        problems.append(Problem(index, rid, "conversations",
                                f"{count} {IMAGE_TOKEN} placeholder(s) but the record has no image"))
    return problems


def check_record(index: int, raw: Any) -> list[Problem]:
    """Every schema problem of one record (types, required keys, roles, placeholders)."""
    if not isinstance(raw, dict):
        return [Problem(index, None, "record", f"must be a JSON object, got {type(raw).__name__}")]
    rid = record_id(raw)
    problems = _check_id(index, raw, rid) + _check_image_field(index, raw, rid)
    turns = raw.get("conversations")
    if turns is None:
        return [*problems, Problem(index, rid, "conversations", "missing")]
    if not isinstance(turns, list):
        return [*problems, Problem(index, rid, "conversations", f"must be a list, got {type(turns).__name__}")]
    if not turns:
        return [*problems, Problem(index, rid, "conversations", "empty")]
    for j, turn in enumerate(turns):
        problems += _check_turn(index, rid, j, turn)
    dict_turns = [t for t in turns if isinstance(t, dict)]
    if len(dict_turns) == len(turns):
        problems += _check_order(index, rid, dict_turns) + _check_placeholders(index, rid, raw, dict_turns)
    return problems


def check_top_level(doc: Any) -> list[Problem]:
    if not isinstance(doc, list):
        return [Problem(-1, None, "file", f"top level must be a JSON list of records, got {type(doc).__name__}")]
    return []


def to_record(raw: dict, image_folder: str | Path | None = None, task: str = TASK) -> Record:
    """A schema-valid raw record as a Record (image joined onto the folder when one is given)."""
    image = raw.get("image")
    return Record(
        id=str(raw["id"]),
        image=image_path(image_folder, image) if image else None,
        turns=tuple(Turn(t["from"], t["value"]) for t in raw["conversations"]),
        task=task,
        meta={k: v for k, v in raw.items() if k not in ("id", "image", "conversations")},
    )


def load_llava_json(path: str | Path, image_folder: str | Path | None = None) -> list[Record]:
    """Read a LLaVA file, stopping at the first schema problem (use the validator to see them all)."""
    doc = read_json(path)
    problems = check_top_level(doc)
    for i, raw in enumerate(doc if not problems else []):
        problems += check_record(i, raw)
        if problems:
            break
    if problems:
        raise DataError(problems[0].line(), where=str(path))
    return [to_record(raw, image_folder) for raw in doc]
