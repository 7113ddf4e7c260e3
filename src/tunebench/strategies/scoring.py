"""Per-question scores (SQuAD EM/F1, format validity, staleness, retrieval recall) and their summaries.

Every summary is a mean with a 95% percentile-bootstrap interval over questions; comparisons between
two strategies use the paired bootstrap on the same questions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tunebench.evaluation.metrics.squad import best_exact_match, best_f1, normalize_answer, token_f1
from tunebench.evaluation.metrics.stats import bootstrap_ci, paired_bootstrap
from tunebench.strategies.chunking import Chunk
from tunebench.strategies.extraction import Booking
from tunebench.strategies.structured import parse_object, validate


def qa_scores(prediction: str, answers: Sequence[str]) -> dict[str, float]:
    return {"em": best_exact_match(prediction, answers), "f1": best_f1(prediction, answers)}


def is_stale(prediction: str, new_answers: Sequence[str], old_answers: Sequence[str]) -> float:
    """1 when the reply matches the old (pre-update) answer better than the new one, and matches it well."""
    if not old_answers or not prediction.strip():
        return 0.0
    old, new = best_f1(prediction, old_answers), best_f1(prediction, new_answers)
    return float(old >= 0.5 and old > new)


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _same_value(predicted: Any, gold: Any) -> bool:
    if isinstance(gold, bool) or isinstance(predicted, bool):
        return predicted is gold
    if isinstance(gold, int | float) and isinstance(predicted, int | float):
        return abs(float(predicted) - float(gold)) < 1e-6
    if isinstance(gold, str) and isinstance(predicted, str):
        return normalize_answer(predicted) == normalize_answer(gold)
    return False


def format_scores(reply: str, gold: Mapping[str, Any], last: bool = False) -> dict[str, float]:
    """valid: the object passes the strict schema; em: valid and every field right; f1: per-field token F1."""
    value, error = validate(reply, Booking, last=last)
    parsed = value if value is not None else parse_object(reply, last=last) or {}
    f1 = float(np.mean([token_f1(_value_text(parsed[k]), _value_text(v)) if k in parsed else 0.0
                        for k, v in gold.items()]))
    exact = value is not None and all(_same_value(value[k], v) for k, v in gold.items())
    return {"valid": float(error is None), "em": float(exact), "f1": f1}


def recall_at_k(retrieved: Sequence[Chunk], doc_ids: Sequence[str], answers: Sequence[str]) -> float:
    """Share of the question's source documents among the retrieved chunks; without known sources,
    1 when some retrieved chunk contains a gold answer (normalised), else 0."""
    if doc_ids:
        hit = {c.doc_id for c in retrieved}
        return sum(d in hit for d in doc_ids) / len(doc_ids)
    texts = [f" {normalize_answer(c.text)} " for c in retrieved]
    golds = [normalize_answer(a) for a in answers if normalize_answer(a)]
    return float(any(f" {g} " in t for g in golds for t in texts))


def summarize(rows: Sequence[Mapping[str, Any]], keys: Sequence[str], resamples: int, seed: int) -> dict[str, dict]:
    """Mean and 95% bootstrap CI of each per-question score in `keys` (as fractions in [0, 1])."""
    out = {}
    for key in keys:
        values = [float(r[key]) for r in rows if r.get(key) is not None]
        if values:
            out[key] = bootstrap_ci(values, n_resamples=resamples, seed=seed).as_dict()
    return out


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    array = np.asarray(values, dtype=np.float64)
    return {"p50": float(np.percentile(array, 50)), "p95": float(np.percentile(array, 95)),
            "mean": float(array.mean()), "n": len(values)}


def paired(rows_a: Sequence[Mapping[str, Any]], rows_b: Sequence[Mapping[str, Any]], key: str, resamples: int,
           seed: int) -> dict[str, Any] | None:
    """Paired bootstrap of mean(a) - mean(b) over the questions both answered (matched by id)."""
    by_id = {r["id"]: r for r in rows_b}
    common = [(float(r[key]), float(by_id[r["id"]][key])) for r in rows_a if r["id"] in by_id]
    if not common:
        return None
    a, b = zip(*common, strict=True)
    return paired_bootstrap(a, b, n_resamples=resamples, seed=seed).as_dict()
