"""The one in-memory record type every loader returns, whatever the file format."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tunebench.core.io import sha256_file, sha256_json

IMAGE_TOKEN = "<image>"
Role = Literal["human", "gpt"]


@dataclass(frozen=True)
class Turn:
    role: Role
    text: str


@dataclass(frozen=True)
class Record:
    """One sample: an optional image plus a conversation, and reference answers when it is evaluated.

    Training data (LLaVA JSON, captions) fills `turns` with human/gpt pairs. Evaluation data (VQA-v2,
    GQA, MME, POPE) has a single human turn holding the question and the references in `answers`
    (VQA-v2: the 10 human answers; GQA: one; MME/POPE: "yes" or "no"). `meta` carries the format's
    own fields: answer_type, question_type, structural/semantic types, subtask, split, skill, ...
    """

    id: str
    image: str | None
    turns: tuple[Turn, ...]
    answers: tuple[str, ...] = ()
    task: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def question(self) -> str:
        """The first human turn without the image placeholder (what an evaluation asks)."""
        first = next(t.text for t in self.turns if t.role == "human")
        return first.replace(IMAGE_TOKEN, "").strip()

    @property
    def reference_answer(self) -> str:
        """The answer most annotators gave (VQA-v2 has ten; the other sets one); ties go to the first given."""
        return Counter(self.answers).most_common(1)[0][0]

    @property
    def skill(self) -> str | None:
        return self.meta.get("skill")


def content_rows(records: Sequence[Record], image_hashes: dict[str, str] | None = None) -> list:
    """What decides a result computed from `records`: ids, conversations, references, metadata (splits,
    subtasks and skills group the scores) and image bytes.

    Image paths are left out on purpose: a folder moved elsewhere keeps its hash, and an image edited in
    place changes it. Pass one `image_hashes` dict to several calls to hash each file once.
    """
    seen = {} if image_hashes is None else image_hashes

    def image(path: str | None) -> str | None:
        if path and path not in seen:
            seen[path] = sha256_file(path) if Path(path).is_file() else "missing"
        return seen[path] if path else None

    return [[r.id, image(r.image), [[t.role, t.text] for t in r.turns], list(r.answers),
             json.dumps(r.meta, sort_keys=True, default=str)] for r in records]


def records_hash(records: Sequence[Record], image_hashes: dict[str, str] | None = None) -> str:
    """Content hash of `records` (see `content_rows`): the key of every cache computed from them."""
    return sha256_json(content_rows(records, image_hashes))[:16]
