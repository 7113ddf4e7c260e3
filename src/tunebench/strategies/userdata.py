"""A user's own corpus and questions (JSON lines), validated field by field with file:line in every error.

corpus.jsonl  {"id": str, "title": str, "text": str}                       one document per line
qa.jsonl      {"id": str, "question": str, "answers": [str, ...], "split": "train" | "test"}
              optional: "doc_ids": [corpus ids that hold the answer] (retrieval recall uses them),
              split "fresh" + "stale_answers": questions whose answers change with --updates
updates.jsonl same shape as the corpus; each line replaces (or adds) the document with its id
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tunebench.core.errors import DataError
from tunebench.strategies.documents import Doc
from tunebench.strategies.tasks import KnowledgeTask, QAItem

SPLITS = ("train", "test", "fresh")


def _lines(path: Path) -> list[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise DataError("file not found", where=str(path))
    rows = []
    try:
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"invalid JSON: {exc.msg}", where=f"{path}:{lineno}") from exc
                if not isinstance(value, dict):
                    raise DataError("each line must be a JSON object", where=f"{path}:{lineno}")
                rows.append((lineno, value))
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text ({exc.reason})", where=str(path)) from exc
    if not rows:
        raise DataError("no records", where=str(path))
    return rows


def _text(row: dict, field: str, where: str) -> str:
    value = row.get(field)
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"field '{field}' must be a non-empty string", where=where)
    return value.strip()


def _string_list(row: dict, field: str, where: str, required: bool) -> tuple[str, ...]:
    value = row.get(field)
    if value is None and not required:
        return ()
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise DataError(f"field '{field}' must be a non-empty list of non-empty strings", where=where)
    return tuple(v.strip() for v in value)


def _records(path: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(id, where, row) per line; ids must be non-empty strings, unique within the file."""
    seen: set[str] = set()
    out = []
    for lineno, row in _lines(path):
        where = f"{path}:{lineno}"
        record_id = _text(row, "id", where)
        if record_id in seen:
            raise DataError(f"field 'id': duplicate id '{record_id}'", where=where)
        seen.add(record_id)
        out.append((record_id, where, row))
    return out


def load_corpus(path: str | Path) -> list[Doc]:
    return [Doc(doc_id, _text(row, "title", where), _text(row, "text", where))
            for doc_id, where, row in _records(Path(path))]


def load_qa(path: str | Path, doc_ids: set[str]) -> list[QAItem]:
    items: list[QAItem] = []
    for qid, where, row in _records(Path(path)):
        split = row.get("split")
        if split not in SPLITS:
            raise DataError(f"field 'split' must be one of {', '.join(SPLITS)}", where=where)
        sources = _string_list(row, "doc_ids", where, required=False)
        unknown = [d for d in sources if d not in doc_ids]
        if unknown:
            raise DataError(f"field 'doc_ids' names unknown document '{unknown[0]}'", where=where)
        stale = _string_list(row, "stale_answers", where, required=False)
        items.append(QAItem(qid, _text(row, "question", where), _string_list(row, "answers", where, True), split,
                            sources, row.get("kind", "") if isinstance(row.get("kind"), str) else "", stale))
    return items


def user_task(corpus: str | Path, qa: str | Path, updates: str | Path | None = None) -> KnowledgeTask:
    """The knowledge task from the user's files; freshness only when updates and fresh questions are given."""
    docs = load_corpus(corpus)
    updated = load_corpus(updates) if updates else []
    items = load_qa(qa, {d.id for d in docs} | {d.id for d in updated})
    test = [q for q in items if q.split == "test"]
    if not test:
        raise DataError("no questions with split 'test'", where=str(qa))
    fresh = [q for q in items if q.split == "fresh"]
    if fresh and not updated:
        raise DataError("questions with split 'fresh' need --updates (the changed documents)", where=str(qa))
    return KnowledgeTask(docs, [q for q in items if q.split == "train"], test, fresh, updated, source="user")
