"""`tunebench eval`: predictions appended to samples.jsonl as they come (resumable after a kill), then the
official metric, written atomically as results.json in lmms-eval's results layout."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from tunebench.core.device import Precision, resolve_precision
from tunebench.core.errors import UserError
from tunebench.core.io import append_jsonl, atomic_write_json, atomic_write_text, read_json, read_jsonl
from tunebench.core.provenance import environment
from tunebench.data.imagecheck import check_record_images
from tunebench.data.records import Record, records_hash
from tunebench.evaluation.engine import predict
from tunebench.evaluation.tasks import Task

SAMPLES = "samples.jsonl"
SAMPLES_KEY = "samples.key.json"  # what made samples.jsonl: a resume never mixes in another model's answers
RESULTS = "results.json"
log = logging.getLogger(__name__)


def check_same_task(out: Path, task: str) -> None:
    """Refuse a folder that holds another task's results: evaluating here would replace them."""
    if (out / RESULTS).is_file():
        held = list(read_json(out / RESULTS).get("results", {}))
        if held and task not in held:
            raise UserError(f"holds the results of task {held[0]}; give each task its own --out", where=str(out))


def _done(out: Path, resume: bool, key: dict) -> dict[str, dict]:
    """Samples already predicted (with --resume) by the same model, task and scoring; else a fresh start."""
    path, meta = out / SAMPLES, out / SAMPLES_KEY
    stale = resume and path.exists() and meta.exists() and read_json(meta) != key
    if stale:
        log.warning("%s holds predictions of another model, task or scoring: predicting every sample again", path)
    if not resume or stale or not path.exists():
        path.unlink(missing_ok=True)
        atomic_write_json(meta, key)
        return {}
    atomic_write_json(meta, key)
    text = path.read_bytes()
    complete = text.rfind(b"\n") + 1
    if complete < len(text):  # a line cut short by a crash: drop it, so appends start on a fresh line
        with open(path, "r+b") as fh:
            fh.truncate(complete)
    return {row["id"]: row for row in read_jsonl(path)}


def _current(out: Path, done: dict[str, dict], content: dict[str, str]) -> dict[str, dict]:
    """Drop resumed samples whose record has changed since (question, references, metadata or image bytes under
    the same id), from memory and from samples.jsonl, so they are predicted again and listed once."""
    stale = {i for i, row in done.items() if i in content and row.get("content") != content[i]}
    if not stale:
        return done
    log.warning("%d sample(s) in %s were not predicted for this question, image, reference and metadata under "
                "their id: predicting them again", len(stale), out / SAMPLES)
    kept = {i: row for i, row in done.items() if i not in stale}
    atomic_write_text(out / SAMPLES, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in kept.values()))
    return kept


def _samples_key(model, task: Task, scoring: str, precision: str) -> dict:
    return {"task": task.name, "scoring": scoring, "prompt": prompt_config(task),
            "weights": dict(model.weights_hashes), "precision": precision}


def prompt_config(task: Task) -> dict:
    """What decides a question's prompt besides the record: part of the samples' key and of the results."""
    return {"prompt_suffix": task.suffix, "prompt_drop": task.drop}


def evaluate(model, task: Task, records: list[Record], out: Path, batch_size: int = 16,
             scoring: str = "generate", resume: bool = False, model_name: str = "", extra: dict | None = None,
             precision: Precision = "auto") -> dict:
    """Predict, score and aggregate one task; every finished sample is on disk before the next starts."""
    check_record_images(records)  # one line naming the file and the record, before any work
    chosen = resolve_precision(precision, model.device)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    metric = task.metric
    images: dict[str, str] = {}  # each image file hashed once
    content = {r.id: records_hash([r], images) for r in records}
    done = _current(out, _done(out, resume, _samples_key(model, task, scoring, chosen.used)), content)
    todo = [r for r in records if r.id not in done]
    start = time.perf_counter()
    progress = Progress(TextColumn(f"[bold]eval {task.name}[/]"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TimeRemainingColumn())
    bar = progress.add_task(task.name, total=len(records), completed=len(records) - len(todo))
    with progress:
        for pred in predict(model, task, todo, batch_size=batch_size, scoring=scoring, precision=chosen.used):
            _record(pred, metric, out, done, content[pred.record.id])
            progress.advance(bar)
    seconds = time.perf_counter() - start
    rows = [done[r.id] for r in records]
    summary = metric.aggregate([{**row, "answers": tuple(row["answers"])} for row in rows])
    results = {
        "results": {task.name: {"alias": task.name, **_flat(summary)}},
        "configs": {task.name: {"task": task.name, "metric": task.metric.name, **prompt_config(task),
                                "scoring": scoring, "generation_kwargs": {"do_sample": False, "num_beams": 1,
                                                                          "max_new_tokens": task.max_new_tokens}}},
        "n-samples": {task.name: {"original": len(records), "effective": len(rows)}},
        "headline": summary["headline"],
        "summary": summary,
        "config": {"model": model_name, "batch_size": batch_size, "scoring": scoring, **chosen.record(),
                   **(extra or {})},
        "hashes": {"data": records_hash(records, images), **model.weights_hashes},
        "timing": {"predict_s": seconds, "samples_predicted": len(todo),
                   "samples_per_s": len(todo) / seconds if seconds and todo else None},
        **environment(),
    }
    atomic_write_json(out / RESULTS, results)
    return results


def _record(pred, metric, out: Path, done: dict[str, dict], content: str) -> None:
    """Score one prediction and append it to samples.jsonl before the next one is made."""
    r = pred.record
    scored = metric.evaluate(pred.raw, r.answers, r.meta)
    row = {"id": r.id, "image": r.image, "prompt": pred.prompt, "raw": pred.raw, "parsed": scored["parsed"],
           "answers": list(r.answers), "score": scored["score"], "meta": scored["meta"], "content": content}
    append_jsonl(out / SAMPLES, row)
    done[r.id] = row


def _flat(summary: dict, prefix: str = "") -> dict:
    """lmms-eval keeps scalar metrics at the task level as "name,filter"."""
    flat = {}
    for key, value in summary.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            flat[f"{prefix}{key},none"] = value
    return flat
