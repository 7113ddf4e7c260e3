"""`tunebench strategies` end to end: data, models, every phase, results.json (atomic) and the report."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from tunebench.core.device import resolve_precision
from tunebench.core.io import atomic_write_json, atomic_write_text, sha256_file
from tunebench.core.provenance import environment
from tunebench.core.seed import seed_everything
from tunebench.strategies import finetune as ft
from tunebench.strategies.chunking import chunk_docs
from tunebench.strategies.config import SCHEMA, StrategiesConfig
from tunebench.strategies.extraction import format_items
from tunebench.strategies.generation import Generator
from tunebench.strategies.runner import FT_NAMES, Runner
from tunebench.strategies.tasks import KnowledgeTask, knowledge_task
from tunebench.strategies.userdata import user_task


def _write_jsonl(path: Path, rows: list[dict]) -> str:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return sha256_file(path)


def write_data(out: Path, task: KnowledgeTask, fmt: tuple[list, list]) -> dict[str, Any]:
    """The exact data of the run, in the user-facing formats, with content hashes for the results."""
    folder = out / "data"
    qa = [{"id": q.id, "question": q.question, "answers": list(q.answers), "split": q.split,
           "doc_ids": list(q.doc_ids), "kind": q.kind, **({"stale_answers": list(q.stale_answers)}
                                                         if q.stale_answers else {})}
          for q in [*task.train, *task.test, *task.fresh]]
    hashes = {
        "corpus": _write_jsonl(folder / "corpus.jsonl", [asdict(d) for d in task.docs]),
        "qa": _write_jsonl(folder / "qa.jsonl", qa),
        "format": _write_jsonl(folder / "format.jsonl", [asdict(x) for x in [*fmt[0], *fmt[1]]]),
    }
    if task.updated_docs:
        hashes["updates"] = _write_jsonl(folder / "updates.jsonl", [asdict(d) for d in task.updated_docs])
    return {"source": task.source, "sha256": hashes,
            "counts": {"documents": len(task.docs), "qa_train": len(task.train), "qa_test": len(task.test),
                       "fresh": len(task.fresh), "updated_documents": len(task.updated_docs),
                       "format_train": len(fmt[0]), "format_test": len(fmt[1])}}


def load_task(cfg: StrategiesConfig, corpus: Path | None, qa: Path | None, updates: Path | None) -> KnowledgeTask:
    if corpus or qa:
        if not (corpus and qa):
            from tunebench.core.errors import UserError

            raise UserError("--corpus and --qa go together")
        return user_task(corpus, qa, updates)
    return knowledge_task(cfg.world, cfg.sizes.knowledge_test, cfg.sizes.knowledge_train, cfg.seed)


def finetune_knowledge(runner: Runner) -> None:
    """Train the knowledge adapter and evaluate it; then the freshness phase of the fine-tuned strategies."""
    cfg, tok, out = runner.cfg, runner.llm.tokenizer, runner.out
    wanted = [n for n in FT_NAMES if n in cfg.knowledge_strategies]
    fresh = runner.tasks.get("freshness", {}).get("strategies")
    fresh_wanted = [n for n in FT_NAMES if n in cfg.freshness_strategies] if fresh is not None else []
    if not wanted and not fresh_wanted:
        return
    runner.console.print("[bold]fine-tuning[/] knowledge adapter (LoRA)")
    start = time.perf_counter()
    examples = runner.knowledge_adapter_examples()
    model = ft.add_lora(runner.llm.model, cfg.finetune)
    result = ft.train_adapter(model, tok, examples, cfg.finetune, cfg.finetune.epochs, cfg.seed,
                              out / "train" / "knowledge", "finetune knowledge", cfg.precision)
    runner.costs["finetune_train_s"] = time.perf_counter() - start
    runner.costs["finetune"] = {"examples": len(examples), **result.to_dict()}
    model.save_pretrained(str(out / "adapters" / "knowledge"))
    gen = Generator(model, tok, cfg.generation.batch_size)
    runner.knowledge(wanted, runner.qa_context(gen, runner.index), "finetune_train_s")
    if fresh_wanted:
        freshness_finetuned(runner, model, gen, fresh, fresh_wanted)
    runner.llm.model = model.unload()


def freshness_finetuned(runner: Runner, model, gen: Generator, fresh: dict, wanted: list[str]) -> None:
    """Fine-tuned + RAG needs only the re-index (its knowledge lives in the index); fine-tuned alone needs
    continued training on the changed documents (timed). Fine-tuned + RAG is also measured after both."""
    cfg, r = runner.cfg, runner.cfg.retrieval
    old, new = runner.qa_context(gen, runner.index), runner.qa_context(gen, runner.updated_index)
    before = runner.fresh_eval("finetune", old, "finetune_before") if "finetune" in wanted else None
    if "finetune_rag" in wanted:
        fresh["finetune_rag"] = {"update": "re-index", "update_s": runner.costs["reindex_s"],
                                 "before": runner.fresh_eval("finetune_rag", old, "finetune_rag_before"),
                                 "after": runner.fresh_eval("finetune_rag", new, "finetune_rag_after")}
    start = time.perf_counter()
    chunks = chunk_docs(runner.task.updated_docs, r.chunk_words, r.overlap_words)
    update = ft.encode_examples(runner.llm.tokenizer, ft.passage_conversations(chunks), cfg.finetune.max_length)
    result = ft.train_adapter(model, runner.llm.tokenizer, update, cfg.finetune, cfg.finetune.update_epochs,
                              cfg.seed + 1, runner.out / "train" / "knowledge_update", "finetune update",
                              cfg.precision)
    runner.costs["retrain_s"] = time.perf_counter() - start
    runner.costs["finetune_update"] = {"examples": len(update), **result.to_dict()}
    model.save_pretrained(str(runner.out / "adapters" / "knowledge_updated"))
    if "finetune" in wanted:
        fresh["finetune"] = {"update": "continued training", "update_s": runner.costs["retrain_s"], "before": before,
                             "after": runner.fresh_eval("finetune", runner.qa_context(gen, None), "finetune_after")}
    if "finetune_rag" in wanted:
        fresh["finetune_rag+retrain"] = {
            "update": "re-index + continued training", "before": None,
            "update_s": runner.costs["reindex_s"] + runner.costs["retrain_s"],
            "after": runner.fresh_eval("finetune_rag", new, "finetune_rag_retrained_after")}


def finetune_format(runner: Runner) -> None:
    cfg, tok = runner.cfg, runner.llm.tokenizer
    if "finetune" not in cfg.format_strategies or not runner.fmt_train:
        return
    runner.console.print("[bold]fine-tuning[/] format adapter (LoRA)")
    start = time.perf_counter()
    examples = ft.encode_examples(tok, ft.format_conversations(runner.fmt_train), cfg.finetune.max_length)
    model = ft.add_lora(runner.llm.model, cfg.finetune)
    result = ft.train_adapter(model, tok, examples, cfg.finetune, cfg.finetune.format_epochs, cfg.seed,
                              runner.out / "train" / "format", "finetune format", cfg.precision)
    runner.costs["format_finetune_train_s"] = time.perf_counter() - start
    runner.costs["format_finetune"] = {"examples": len(examples), **result.to_dict()}
    model.save_pretrained(str(runner.out / "adapters" / "format"))
    runner.formats(["finetune"], runner.fmt_context(Generator(model, tok, cfg.generation.batch_size)),
                   "format_finetune_train_s")
    runner.llm.model = model.unload()


def freshness_base(runner: Runner) -> None:
    """Zero-shot and RAG on the changed facts: RAG before and after re-indexing the changed documents."""
    names = runner.cfg.freshness_strategies
    fresh: dict[str, Any] = {}
    runner.tasks["freshness"] = {"n": len(runner.task.fresh), "strategies": fresh}
    runner.console.print("[bold]freshness[/]: facts changed after the strategies were built")
    base = runner.qa_context(runner.base_gen, runner.index)
    if "zero_shot" in names:
        fresh["zero_shot"] = {"update": "none", "update_s": None, "before": None,
                              "after": runner.fresh_eval("zero_shot", base, "zero_shot")}
    before = runner.fresh_eval("rag", base, "rag_before") if "rag" in names else None
    runner.reindex()
    if "rag" in names:
        fresh["rag"] = {"update": "re-index", "update_s": runner.costs["reindex_s"], "before": before,
                        "after": runner.fresh_eval("rag", runner.qa_context(runner.base_gen, runner.updated_index),
                                                   "rag_after")}


def run_strategies(cfg: StrategiesConfig, out: Path, corpus: Path | None = None, qa: Path | None = None,
                   updates: Path | None = None, console: Console | None = None) -> dict[str, Any]:
    """Everything, in one process; returns the results dict that is also written to out/results.json."""
    previous_threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _run(cfg, out, corpus, qa, updates, console or Console(stderr=True))
    finally:
        torch.set_num_threads(previous_threads)


def _run(cfg: StrategiesConfig, out: Path, corpus: Path | None, qa: Path | None, updates: Path | None,
         console: Console) -> dict[str, Any]:
    from tunebench.components import load_embedder, load_llm
    from tunebench.strategies.retrieval import st_embed_fn

    start = time.perf_counter()
    seed_everything(cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    task = load_task(cfg, corpus, qa, updates)
    fmt = format_items(cfg.sizes.format_train, cfg.sizes.format_test, cfg.seed)
    data = write_data(out, task, fmt)
    precision = resolve_precision(cfg.precision)
    llm = load_llm(cfg.llm, dtype=precision.dtype)
    embedder = load_embedder(cfg.embedder)
    runner = Runner(cfg, out, task, fmt, llm, st_embed_fn(embedder), console)
    runner.build()
    retrieval = runner.retrieval_recall()
    console.print("[bold]knowledge QA[/] (base model)")
    qa_ctx = runner.qa_context(runner.base_gen, runner.index)
    runner.knowledge([n for n in cfg.knowledge_strategies if n not in FT_NAMES], qa_ctx)
    console.print("[bold]format task[/] (base model)")
    runner.formats([n for n in cfg.format_strategies if n not in FT_NAMES], runner.fmt_context(runner.base_gen))
    if task.fresh and task.updated_docs:
        freshness_base(runner)
    finetune_knowledge(runner)
    finetune_format(runner)
    results = {
        "schema": SCHEMA,
        "config": asdict(cfg),
        "environment": environment(),
        "model": {"llm": llm.name, "weights_hash": llm.weights_hash, "dtype": precision.used,
                  "embedder": cfg.embedder},
        "precision": precision.record(),
        "data": data,
        "costs": runner.costs,
        "retrieval": retrieval,
        "tasks": runner.tasks,
        "wall_s": time.perf_counter() - start,
    }
    atomic_write_json(out / "results.json", results)
    return results
