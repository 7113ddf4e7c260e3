"""Schema-guided (constrained) decoding of flat JSON objects.

We write the braces, keys, quotes and commas; the model only fills each value, and each value is cut to
what its type allows (a string ends at its closing quote, an integer is its leading digits). A boolean
is the model's choice between `true` and `false` by next-token score. The keys and layout are therefore
always right; the strict schema still validates the result, so a number the model leaves without any
digits is reported as invalid instead of being patched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from tunebench.data.records import Turn
from tunebench.strategies.generation import Generator

FieldKind = Literal["string", "integer", "number", "boolean"]
_NUMBERS = {"integer": re.compile(r"-?\d+"), "number": re.compile(r"-?\d+(?:\.\d+)?")}


@dataclass
class FilledObject:
    text: str
    prompt_tokens: int  # summed over the per-field calls (each re-reads the prompt)
    ms: float  # this object's share of every batch it took part in


def cut_value(text: str, kind: FieldKind) -> str:
    """The part of a generated continuation that the field's type allows, as JSON source text."""
    if kind == "string":
        end = text.find('"')
        value = text if end < 0 else text[:end]
        return " ".join(value.replace("\\", "").split())
    if kind == "boolean":
        match = re.match(r"\s*(true|false)", text)
        return match.group(1) if match else ""
    match = _NUMBERS[kind].match(text.lstrip())
    return match.group(0) if match else ""


def fill_object(gen: Generator, conversations: Sequence[Sequence[Turn]], fields: Mapping[str, FieldKind],
                value_tokens: int, batch_size: int | None = None) -> list[FilledObject]:
    """One JSON object per conversation, field by field (each field is one batched call)."""
    filled = [FilledObject("{", 0, 0.0) for _ in conversations]
    for i, (key, kind) in enumerate(fields.items()):
        opener = f'{", " if i else ""}"{key}": ' + ('"' if kind == "string" else "")
        for item in filled:
            item.text += opener
        prompts = [gen.encode(turns, item.text) for turns, item in zip(conversations, filled, strict=True)]
        if kind == "boolean":
            values, shares = gen.choose(prompts, ("true", "false"), batch_size)
        else:
            outputs = gen.generate(prompts, value_tokens, batch_size)
            values = [cut_value(o.text, kind) for o in outputs]
            shares = [o.amortised_ms for o in outputs]
        for item, prompt, value, share in zip(filled, prompts, values, shares, strict=True):
            item.text += value + ('"' if kind == "string" else "")
            item.prompt_tokens += len(prompt)
            item.ms += share
    for item in filled:
        item.text += "}"
    return filled
