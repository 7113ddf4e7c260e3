"""Confidence intervals for benchmark headlines (accuracy, MME score, POPE mean F1, ...).

Headlines are not always means of per-question scores (POPE's F1, MME's acc+), so we bootstrap the
official aggregate itself: resample question groups (an MME image's two questions stay together), with
the SAME resample for every seed and both designs, then recompute each headline. Seeds are averaged
inside each resample, so the interval covers question sampling; the seed spread is reported beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tunebench.evaluation.metrics import METRICS


def _groups(rows: Sequence[dict], task: str) -> list[list[int]]:
    """Indices of rows that must be resampled together (MME: the two questions of one image)."""
    if task != "mme":
        return [[i] for i in range(len(rows))]
    by_image: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_image.setdefault(f"{row['meta'].get('subtask')}/{row['meta'].get('image')}", []).append(i)
    return list(by_image.values())


def _headline(task: str, rows: Sequence[dict]) -> float:
    return float(METRICS[task].aggregate(rows)["headline"]["value"])


def _resamples(n_groups: int, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n_groups, size=(n, n_groups))


def _pick(rows: Sequence[dict], groups: list[list[int]], draw: np.ndarray) -> list[dict]:
    return [rows[i] for g in draw for i in groups[g]]


def headline_ci(task: str, rows_per_seed: Sequence[Sequence[dict]], n: int = 1000, seed: int = 0,
                confidence: float = 0.95) -> dict[str, Any]:
    """Seed-mean headline and its percentile-bootstrap interval over questions."""
    groups = _groups(rows_per_seed[0], task)
    values = [np.mean([_headline(task, _pick(rows, groups, d)) for rows in rows_per_seed])
              for d in _resamples(len(groups), n, seed)]
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    per_seed = [_headline(task, rows) for rows in rows_per_seed]
    return {"mean": float(np.mean(per_seed)), "low": float(low), "high": float(high), "per_seed": per_seed,
            "n_questions": len(rows_per_seed[0]), "resamples": n}


def paired_headline_test(task: str, rows_a: Sequence[Sequence[dict]], rows_b: Sequence[Sequence[dict]],
                         n: int = 1000, seed: int = 0, confidence: float = 0.95) -> dict[str, Any]:
    """Difference of seed-mean headlines (a - b) on the same questions, its interval and a two-sided p-value."""
    _check_aligned(rows_a, rows_b)
    groups = _groups(rows_a[0], task)
    observed = np.mean([_headline(task, r) for r in rows_a]) - np.mean([_headline(task, r) for r in rows_b])
    diffs = []
    for d in _resamples(len(groups), n, seed):
        a = np.mean([_headline(task, _pick(r, groups, d)) for r in rows_a])
        b = np.mean([_headline(task, _pick(r, groups, d)) for r in rows_b])
        diffs.append(a - b)
    diffs = np.asarray(diffs)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(diffs, [tail, 100 - tail])
    p_value = (1 + np.count_nonzero(np.abs(diffs - observed) >= abs(observed))) / (1 + n)
    return {"diff": float(observed), "low": float(low), "high": float(high), "p_value": float(p_value),
            # Both criteria must agree: the interval excludes zero AND the centred p-value is below 1 - confidence.
            "significant": bool((low > 0 or high < 0) and p_value < 1 - confidence), "confidence": confidence}


def _check_aligned(rows_a: Sequence[Sequence[dict]], rows_b: Sequence[Sequence[dict]]) -> None:
    ids_a = [r["id"] for r in rows_a[0]]
    for rows in (*rows_a, *rows_b):
        if [r["id"] for r in rows] != ids_a:
            raise ValueError("paired comparison needs the same questions in the same order")
