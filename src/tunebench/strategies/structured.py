"""Structured output: find the JSON object in a reply, validate it against a strict schema, retry on failure.

Validation uses a pydantic model in strict mode (no coercion: "3" is not an integer), and the error
message the model gets on a retry is the first validation error, in plain words.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictFloat, StrictInt, StrictStr, ValidationError

from tunebench.data.records import Turn
from tunebench.strategies.generation import Generation
from tunebench.strategies.prompts import retry_turns


class QAAnswer(BaseModel):
    """{"answer": ...}: a string, or a JSON number for numeric answers; nothing else."""

    model_config = ConfigDict(extra="forbid", strict=True)
    answer: StrictStr | StrictInt | StrictFloat


def find_json_object(text: str) -> str | None:
    """The first balanced {...} span in the text (string-aware), or None."""
    start = text.find("{")
    while start != -1:
        depth, in_string, escaped = 0, False, False
        for i in range(start, len(text)):
            char = text[i]
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
                continue
            if char == '"':
                in_string = True
            elif char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    return text[start : i + 1]
        start = text.find("{", start + 1)
    return None


def find_last_json_object(text: str) -> str | None:
    """The last balanced {...} span (chain of thought writes the object at the end)."""
    found, cursor = None, 0
    while (span := find_json_object(text[cursor:])) is not None:
        found = span
        cursor += text[cursor:].find(span) + len(span)
    return found


def parse_object(text: str, last: bool = False) -> dict[str, Any] | None:
    """The reply's JSON object as a dict, or None when there is none that parses."""
    span = find_last_json_object(text) if last else find_json_object(text)
    if span is None:
        return None
    try:
        value = json.loads(span)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def validate(text: str, schema: type[BaseModel], last: bool = False) -> tuple[dict[str, Any] | None, str | None]:
    """(object, None) when the reply holds a schema-valid object; else (None, a one-line reason)."""
    span = find_last_json_object(text) if last else find_json_object(text)
    if span is None:
        return None, "no JSON object found"
    try:
        value = json.loads(span)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc.msg})"
    try:
        return schema.model_validate(value).model_dump(), None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "object"
        return None, f"field '{where}': {first['msg']}"


@dataclass
class StructuredReply:
    value: dict[str, Any] | None
    raw: str
    attempts: int
    error: str | None
    prompt_tokens: int
    ms: float  # amortised generation time over all attempts


AnswerFn = Callable[[Sequence[Sequence[Turn]]], list[Generation]]


def generate_structured(answer: AnswerFn, conversations: Sequence[list[Turn]], schema: type[BaseModel],
                        retries: int) -> list[StructuredReply]:
    """Generate, validate, and re-ask only the failures (batched), up to `retries` more times."""
    replies = [StructuredReply(None, "", 0, "not generated", 0, 0.0) for _ in conversations]
    pending = list(range(len(conversations)))
    turns = [list(c) for c in conversations]
    for _ in range(retries + 1):
        if not pending:
            break
        outputs = answer([turns[i] for i in pending])
        still = []
        for i, out in zip(pending, outputs, strict=True):
            value, error = validate(out.text, schema)
            reply = replies[i]
            reply.value, reply.raw, reply.error = value, out.text, error
            reply.attempts += 1
            reply.prompt_tokens += out.prompt_tokens
            reply.ms += out.amortised_ms
            if error is not None:
                turns[i] = retry_turns(conversations[i], out.text, error)
                still.append(i)
        pending = still
    return replies
