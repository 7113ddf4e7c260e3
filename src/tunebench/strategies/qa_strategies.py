"""Knowledge-QA strategies. Each takes questions and returns one row per question (raw reply, extracted
answer, prompt tokens, milliseconds); scoring happens elsewhere, the same for all of them.

A fine-tuned model runs through the same functions (`zero_shot` = fine-tuned alone, `rag` without
worked examples = fine-tuned + RAG), so the only difference between rows is the strategy itself.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunebench.strategies import prompts
from tunebench.strategies.chunking import Chunk
from tunebench.strategies.config import StrategiesConfig
from tunebench.strategies.constrained import fill_object
from tunebench.strategies.generation import Generation, Generator
from tunebench.strategies.retrieval import EmbedFn, HybridIndex, nearest
from tunebench.strategies.structured import QAAnswer, generate_structured, validate
from tunebench.strategies.tasks import QAItem

Row = dict[str, Any]


@dataclass
class QAContext:
    gen: Generator
    cfg: StrategiesConfig
    embed: EmbedFn
    train: list[QAItem]
    train_vectors: np.ndarray | None = None  # unit embeddings of the train questions (few-shot selection)
    index: HybridIndex | None = None

    def similar_train(self, items: Sequence[QAItem], k: int) -> list[list[QAItem]]:
        """The k train questions most similar to each question (embedding cosine), best first."""
        if self.train_vectors is None or not self.train or k <= 0:
            return [[] for _ in items]
        ranked = nearest(self.embed([q.question for q in items]), self.train_vectors, k)
        return [[self.train[i] for i in row] for row in ranked]


def _rows(items: Sequence[QAItem], outputs: Sequence[Generation], answers: Sequence[str],
          extra_ms: Sequence[float] | None = None) -> list[Row]:
    extra_ms = extra_ms or [0.0] * len(items)
    return [{"id": q.id, "raw": o.text, "prediction": a, "prompt_tokens": o.prompt_tokens,
             "ms": o.amortised_ms + e} for q, o, a, e in zip(items, outputs, answers, extra_ms, strict=True)]


def zero_shot(ctx: QAContext, items: Sequence[QAItem], batch_size: int) -> list[Row]:
    outputs = ctx.gen.answer([prompts.qa_zero_shot(q.question) for q in items],
                             ctx.cfg.generation.short_tokens, batch_size=batch_size)
    return _rows(items, outputs, [prompts.short_answer(o.text) for o in outputs])


def few_shot(ctx: QAContext, items: Sequence[QAItem], batch_size: int) -> list[Row]:
    start = time.perf_counter()
    examples = ctx.similar_train(items, ctx.cfg.few_shot_k)
    select_ms = 1000 * (time.perf_counter() - start) / max(1, len(items))
    conversations = [prompts.qa_few_shot(q.question, [(e.question, e.answers[0]) for e in ex])
                     for q, ex in zip(items, examples, strict=True)]
    outputs = ctx.gen.answer(conversations, ctx.cfg.generation.short_tokens, batch_size=batch_size)
    return _rows(items, outputs, [prompts.short_answer(o.text) for o in outputs], [select_ms] * len(items))


def cot(ctx: QAContext, items: Sequence[QAItem], batch_size: int) -> list[Row]:
    outputs = ctx.gen.answer([prompts.qa_cot(q.question) for q in items], ctx.cfg.generation.cot_tokens,
                             batch_size=batch_size)
    return _rows(items, outputs, [prompts.cot_answer(o.text) for o in outputs])


def structured(ctx: QAContext, items: Sequence[QAItem], batch_size: int) -> list[Row]:
    """JSON {"answer": ...}, by constrained decoding or by validate-and-retry (`structured_mode`). A reply
    that fails the strict schema counts as no answer: a program could not have read it."""
    conversations = [prompts.qa_structured(q.question) for q in items]
    if ctx.cfg.structured_mode == "constrained":
        filled = fill_object(ctx.gen, conversations, {"answer": "string"}, ctx.cfg.generation.answer_json_tokens,
                             batch_size)
        replies = [(f.text, f.prompt_tokens, f.ms, 1) for f in filled]
    else:
        def answer(convs):
            return ctx.gen.answer(convs, ctx.cfg.generation.answer_json_tokens, prefix="{", batch_size=batch_size)

        replies = [(r.raw, r.prompt_tokens, r.ms, r.attempts)
                   for r in generate_structured(answer, conversations, QAAnswer, ctx.cfg.structured_retries)]
    rows = []
    for q, (raw, tokens, ms, attempts) in zip(items, replies, strict=True):
        value, _ = validate(raw, QAAnswer)
        rows.append({"id": q.id, "raw": raw, "prediction": str(value["answer"]) if value else "",
                     "prompt_tokens": tokens, "ms": ms, "valid": float(value is not None), "attempts": attempts})
    return rows


def retrieve(ctx: QAContext, questions: Sequence[str]) -> tuple[list[list[Chunk]], float]:
    """Top-k chunks per question and the retrieval time per question (ms)."""
    if ctx.index is None:
        raise RuntimeError("RAG needs an index")
    start = time.perf_counter()
    found = ctx.index.search(questions, ctx.cfg.retrieval.top_k, ctx.cfg.retrieval.mode)
    return found, 1000 * (time.perf_counter() - start) / max(1, len(questions))


def rag(ctx: QAContext, items: Sequence[QAItem], batch_size: int, demos: int | None = None) -> list[Row]:
    """Retrieved passages in the prompt, with `demos` worked examples (similar train questions with their
    own retrieved passages) in front; `demos=0` for a fine-tuned model, which has learnt the answer form."""
    n_demos = ctx.cfg.rag_demos if demos is None else demos
    start = time.perf_counter()
    found, _ = retrieve(ctx, [q.question for q in items])
    examples = ctx.similar_train(items, n_demos)
    demo_items = sorted({e.id: e for ex in examples for e in ex}.values(), key=lambda e: e.id)
    demo_found = dict(zip([e.id for e in demo_items], retrieve(ctx, [e.question for e in demo_items])[0],
                          strict=True)) if demo_items else {}
    retrieval_ms = 1000 * (time.perf_counter() - start) / max(1, len(items))
    conversations = [prompts.qa_rag(q.question, chunks, [(e.question, demo_found[e.id], e.answers[0]) for e in ex])
                     for q, chunks, ex in zip(items, found, examples, strict=True)]
    outputs = ctx.gen.answer(conversations, ctx.cfg.generation.short_tokens, batch_size=batch_size)
    rows = _rows(items, outputs, [prompts.short_answer(o.text) for o in outputs], [retrieval_ms] * len(items))
    for row, chunks in zip(rows, found, strict=True):
        row["retrieved"] = [c.id for c in chunks]
    return rows


def finetune_rag(ctx: QAContext, items: Sequence[QAItem], batch_size: int) -> list[Row]:
    return rag(ctx, items, batch_size, demos=0)


QA_STRATEGIES = {"zero_shot": zero_shot, "few_shot": few_shot, "cot": cot, "structured": structured, "rag": rag,
                 "finetune": zero_shot, "finetune_rag": finetune_rag}
