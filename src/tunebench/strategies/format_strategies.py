"""Format-task strategies: booking message -> JSON. Rows carry the raw reply; scoring validates it.

`cot` writes notes before the object, so its reply is scored on the LAST JSON object; every other
strategy on the first. `structured` shows the object's shape with typed placeholders and either fills
it by constrained decoding (keys and layout written for the model) or lets the model write it, validates
it against the strict schema and re-asks with the validation error until it is valid or retries run out.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunebench.strategies import prompts
from tunebench.strategies.config import StrategiesConfig
from tunebench.strategies.constrained import fill_object
from tunebench.strategies.extraction import FIELD_TYPES, Booking, FormatItem, shape_text
from tunebench.strategies.generation import Generator
from tunebench.strategies.retrieval import EmbedFn, nearest
from tunebench.strategies.structured import generate_structured

Row = dict[str, Any]


@dataclass
class FormatContext:
    gen: Generator
    cfg: StrategiesConfig
    embed: EmbedFn
    train: list[FormatItem]
    train_vectors: np.ndarray | None = None

    def similar_train(self, items: Sequence[FormatItem], k: int) -> list[list[FormatItem]]:
        if self.train_vectors is None or not self.train or k <= 0:
            return [[] for _ in items]
        ranked = nearest(self.embed([x.text for x in items]), self.train_vectors, k)
        return [[self.train[i] for i in row] for row in ranked]


def _answer(ctx: FormatContext, conversations, batch_size: int, tokens: int | None = None, prefix: str = ""):
    return ctx.gen.answer(conversations, tokens or ctx.cfg.generation.json_tokens, prefix=prefix,
                          batch_size=batch_size)


def _rows(items: Sequence[FormatItem], outputs, extra_ms: float = 0.0) -> list[Row]:
    return [{"id": x.id, "raw": o.text, "prompt_tokens": o.prompt_tokens, "ms": o.amortised_ms + extra_ms}
            for x, o in zip(items, outputs, strict=True)]


def zero_shot(ctx: FormatContext, items: Sequence[FormatItem], batch_size: int) -> list[Row]:
    return _rows(items, _answer(ctx, [prompts.fmt_zero_shot(x.text) for x in items], batch_size))


def few_shot(ctx: FormatContext, items: Sequence[FormatItem], batch_size: int) -> list[Row]:
    start = time.perf_counter()
    examples = ctx.similar_train(items, ctx.cfg.few_shot_k)
    select_ms = 1000 * (time.perf_counter() - start) / max(1, len(items))
    conversations = [prompts.fmt_few_shot(x.text, [(e.text, e.gold_json) for e in ex])
                     for x, ex in zip(items, examples, strict=True)]
    return _rows(items, _answer(ctx, conversations, batch_size), select_ms)


def cot(ctx: FormatContext, items: Sequence[FormatItem], batch_size: int) -> list[Row]:
    tokens = ctx.cfg.generation.cot_tokens + ctx.cfg.generation.json_tokens
    return _rows(items, _answer(ctx, [prompts.fmt_cot(x.text) for x in items], batch_size, tokens))


def structured(ctx: FormatContext, items: Sequence[FormatItem], batch_size: int) -> list[Row]:
    conversations = [prompts.fmt_structured(x.text, shape_text()) for x in items]
    if ctx.cfg.structured_mode == "constrained":
        filled = fill_object(ctx.gen, conversations, FIELD_TYPES, ctx.cfg.generation.value_tokens, batch_size)
        return [{"id": x.id, "raw": f.text, "prompt_tokens": f.prompt_tokens, "ms": f.ms, "attempts": 1}
                for x, f in zip(items, filled, strict=True)]
    replies = generate_structured(lambda convs: _answer(ctx, convs, batch_size, prefix="{"), conversations, Booking,
                                  ctx.cfg.structured_retries)
    return [{"id": x.id, "raw": r.raw, "prompt_tokens": r.prompt_tokens, "ms": r.ms, "attempts": r.attempts}
            for x, r in zip(items, replies, strict=True)]


FORMAT_STRATEGIES = {"zero_shot": zero_shot, "few_shot": few_shot, "cot": cot, "structured": structured,
                     "finetune": zero_shot}
