"""One strategies run: build what each strategy needs (timed), answer every task with every strategy,
score, and keep the rows. Order: prompting and RAG on the base model, the knowledge update (re-index),
then the fine-tuned phases (train, evaluate, update by continued training), then the format adapter.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from tunebench.core.io import append_jsonl
from tunebench.strategies import finetune as ft
from tunebench.strategies.chunking import chunk_docs
from tunebench.strategies.config import StrategiesConfig
from tunebench.strategies.extraction import FormatItem
from tunebench.strategies.format_strategies import FORMAT_STRATEGIES, FormatContext
from tunebench.strategies.generation import Generator
from tunebench.strategies.qa_strategies import QA_STRATEGIES, QAContext, retrieve
from tunebench.strategies.retrieval import EmbedFn, HybridIndex
from tunebench.strategies.scoring import format_scores, is_stale, qa_scores, recall_at_k, summarize
from tunebench.strategies.summary import Measured, measure, strategy_summary
from tunebench.strategies.tasks import KnowledgeTask, QAItem

FT_NAMES = ("finetune", "finetune_rag")


def _clip(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


class Runner:
    def __init__(self, cfg: StrategiesConfig, out: Path, task: KnowledgeTask, fmt: tuple[list, list], llm,
                 embed: EmbedFn, console: Console | None = None):
        self.cfg, self.out, self.task, self.llm, self.embed = cfg, out, task, llm, embed
        self.fmt_train, self.fmt_test = fmt
        self.console = console or Console(stderr=True)
        self.costs: dict[str, Any] = {}
        self.tasks: dict[str, Any] = {"knowledge": {"n_test": len(task.test), "n_train": len(task.train),
                                                    "strategies": {}},
                                      "format": {"n_test": len(self.fmt_test), "n_train": len(self.fmt_train),
                                                 "strategies": {}}}
        self.base_gen = Generator(llm.model, llm.tokenizer, cfg.generation.batch_size)
        self.index: HybridIndex | None = None
        self.updated_index: HybridIndex | None = None
        self.qa_vectors: np.ndarray | None = None
        self.fmt_vectors: np.ndarray | None = None

    # ---------- building ----------
    def _timed(self, key: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        value = fn()
        self.costs[key] = time.perf_counter() - start
        return value

    def build(self) -> None:
        r = self.cfg.retrieval
        self.console.print("[bold]building[/] RAG index and few-shot example index")
        self.base_gen.warm_up()

        def index() -> HybridIndex:
            built = HybridIndex(self.embed, r.rrf_k)
            built.add(chunk_docs(self.task.docs, r.chunk_words, r.overlap_words))
            built.save(self.out / "index" / "original")
            return built

        self.index = self._timed("index_build_s", index)
        self.costs["index_chunks"] = len(self.index.chunks)
        questions = [q.question for q in self.task.train]
        self.qa_vectors = self._timed("example_index_s", lambda: self.embed(questions) if questions else None)
        texts = [x.text for x in self.fmt_train]
        self.fmt_vectors = self._timed("format_example_index_s", lambda: self.embed(texts) if texts else None)

    def retrieval_recall(self) -> dict[str, dict]:
        """Recall@k of the dense, BM25 and hybrid rankings on the knowledge test questions."""
        ks, test = self.cfg.retrieval.recall_ks, self.task.test
        out = {}
        for mode in ("dense", "bm25", "hybrid"):
            found = self.index.search([q.question for q in test], max(ks), mode)
            rows = [{f"recall@{k}": recall_at_k(chunks[:k], q.doc_ids, q.answers) for k in ks}
                    for q, chunks in zip(test, found, strict=True)]
            out[mode] = summarize(rows, [f"recall@{k}" for k in ks], self.cfg.bootstrap_resamples, self.cfg.seed)
        return out

    # ---------- contexts and scoring ----------
    def qa_context(self, gen: Generator, index: HybridIndex | None) -> QAContext:
        return QAContext(gen, self.cfg, self.embed, self.task.train, self.qa_vectors, index)

    def fmt_context(self, gen: Generator) -> FormatContext:
        return FormatContext(gen, self.cfg, self.embed, self.fmt_train, self.fmt_vectors)

    def _save_rows(self, task: str, name: str, rows: Sequence[dict]) -> None:
        path = self.out / "predictions" / f"{task}__{name}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        for row in rows:
            append_jsonl(path, row)

    def score_qa(self, items: Sequence[QAItem], measured: Measured) -> Measured:
        for q, row in zip(items, measured.rows, strict=True):
            row.update(qa_scores(row["prediction"], q.answers), answers=list(q.answers), raw=_clip(row["raw"]))
            if q.stale_answers:
                row["stale"] = is_stale(row["prediction"], q.answers, q.stale_answers)
        return measured

    def score_format(self, items: Sequence[FormatItem], measured: Measured, last: bool) -> Measured:
        for x, row in zip(items, measured.rows, strict=True):
            row.update(format_scores(row["raw"], x.gold, last=last), raw=_clip(row["raw"]))
        return measured

    def one_off(self, name: str, train_key: str) -> float:
        c = self.costs
        return {"few_shot": c.get("example_index_s", 0.0), "rag": c["index_build_s"] + c.get("example_index_s", 0.0),
                "finetune": c.get(train_key, 0.0), "finetune_rag": c.get(train_key, 0.0) + c["index_build_s"]
                }.get(name, 0.0)

    def labelled(self, name: str, pool: int) -> dict[str, int]:
        """Labelled examples a strategy needs at least, and how many the measurement used."""
        need = {"few_shot": self.cfg.few_shot_k, "rag": self.cfg.rag_demos, "finetune": pool, "finetune_rag": pool}
        return {"needed": min(need.get(name, 0), pool), "measured_with": pool if name in need else 0}

    # ---------- phases ----------
    def _qa(self, name: str, ctx: QAContext, items: Sequence[QAItem], probe: int) -> Measured:
        self.console.print(f"  {name}: {len(items)} questions")
        fn = partial(QA_STRATEGIES[name], ctx)
        return self.score_qa(items, measure(fn, items, self.cfg.generation.batch_size, probe))

    def knowledge(self, names: Sequence[str], ctx: QAContext, train_key: str = "") -> None:
        entry = self.tasks["knowledge"]["strategies"]
        for name in names:
            if name == "few_shot" and not self.task.train:
                self.tasks["knowledge"].setdefault("skipped", {})[name] = "no questions with split 'train'"
                continue
            measured = self._qa(name, ctx, self.task.test, self.cfg.generation.latency_probe)
            keys = ("em", "f1", "valid") if name == "structured" else ("em", "f1")
            baseline = entry["zero_shot"]["rows"] if "zero_shot" in entry else None
            entry[name] = strategy_summary(measured, keys, self.cfg.bootstrap_resamples, self.cfg.seed,
                                           self.one_off(name, train_key), self.labelled(name, len(self.task.train)),
                                           baseline)
            self._save_rows("knowledge", name, measured.rows)

    def formats(self, names: Sequence[str], ctx: FormatContext, train_key: str = "") -> None:
        entry = self.tasks["format"]["strategies"]
        for name in names:
            self.console.print(f"  {name}: {len(self.fmt_test)} messages")
            fn = partial(FORMAT_STRATEGIES[name], ctx)
            measured = measure(fn, self.fmt_test, self.cfg.generation.batch_size, self.cfg.generation.latency_probe)
            self.score_format(self.fmt_test, measured, last=name == "cot")
            baseline = entry["zero_shot"]["rows"] if "zero_shot" in entry else None
            entry[name] = strategy_summary(measured, ("valid", "em", "f1"), self.cfg.bootstrap_resamples,
                                           self.cfg.seed, self.one_off(name, train_key),
                                           self.labelled(name, len(self.fmt_train)), baseline)
            self._save_rows("format", name, measured.rows)

    def fresh_eval(self, name: str, ctx: QAContext, label: str) -> dict:
        measured = self._qa(name, ctx, self.task.fresh, 0)
        self._save_rows("freshness", f"{label}", measured.rows)
        return strategy_summary(measured, ("em", "f1", "stale"), self.cfg.bootstrap_resamples, self.cfg.seed,
                                0.0, {"needed": 0, "measured_with": 0})

    def reindex(self) -> None:
        """The knowledge update for RAG: load the saved index, replace the changed documents, save."""
        r = self.cfg.retrieval

        def update() -> HybridIndex:
            index = HybridIndex.load(self.out / "index" / "original", self.embed, r.rrf_k)
            index.replace_docs(chunk_docs(self.task.updated_docs, r.chunk_words, r.overlap_words))
            index.save(self.out / "index" / "updated")
            return index

        self.updated_index = self._timed("reindex_s", update)

    def knowledge_adapter_examples(self) -> list[dict]:
        r, tok = self.cfg.retrieval, self.llm.tokenizer
        conversations = []
        if self.cfg.finetune.train_on_documents:
            conversations += ft.passage_conversations(chunk_docs(self.task.docs, r.chunk_words, r.overlap_words))
        if self.task.train:
            found, _ = retrieve(self.qa_context(self.base_gen, self.index), [q.question for q in self.task.train])
            conversations += ft.qa_conversations(self.task.train) + ft.rag_conversations(self.task.train, found)
        return ft.encode_examples(tok, conversations, self.cfg.finetune.max_length)
