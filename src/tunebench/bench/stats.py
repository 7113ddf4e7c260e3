"""Confidence intervals for benchmark headlines (accuracy, MME score, POPE mean F1, ...).

Headlines are not always means of per-question scores (POPE's F1, MME's acc+), so we bootstrap the
official aggregate itself: resample images with all their questions (a cluster bootstrap), with the SAME
resample for every seed and both designs, then recompute each headline. Questions about one image are
not independent (a model that misreads an image misses all of them; POPE asks about the same images in
its three splits), so resampling single questions would give intervals too narrow. Seeds are averaged
inside each resample, so the interval covers image sampling; the seed spread is reported beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from tunebench.evaluation.tasks import get_task


def _groups(rows: Sequence[dict]) -> list[list[int]]:
    """Indices of the rows resampled together: the questions of one image (a row without one stands alone)."""
    by_image: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_image.setdefault(str(row.get("image") or f"row:{row['id']}"), []).append(i)
    return list(by_image.values())


def _headline(task: str, rows: Sequence[dict]) -> float:
    return float(get_task(task).metric.aggregate(rows)["headline"]["value"])


def _resamples(n_groups: int, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n_groups, size=(n, n_groups))


def _pick(rows: Sequence[dict], groups: list[list[int]], draw: np.ndarray) -> list[dict]:
    return [rows[i] for g in draw for i in groups[g]]


def headline_ci(task: str, rows_per_seed: Sequence[Sequence[dict]], n: int = 1000, seed: int = 0,
                confidence: float = 0.95) -> dict[str, Any]:
    """Seed-mean headline and its percentile-bootstrap interval over images."""
    groups = _groups(rows_per_seed[0])
    values = [np.mean([_headline(task, _pick(rows, groups, d)) for rows in rows_per_seed])
              for d in _resamples(len(groups), n, seed)]
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    per_seed = [_headline(task, rows) for rows in rows_per_seed]
    return {"mean": float(np.mean(per_seed)), "low": float(low), "high": float(high), "per_seed": per_seed,
            "n_questions": len(rows_per_seed[0]), "n_images": len(groups), "resamples": n}


def paired_headline_test(task: str, rows_a: Sequence[Sequence[dict]], rows_b: Sequence[Sequence[dict]],
                         n: int = 1000, seed: int = 0, confidence: float = 0.95) -> dict[str, Any]:
    """Difference of seed-mean headlines (a - b) on the same questions, its interval and a two-sided p-value."""
    return paired_test(partial(_headline, task), rows_a, rows_b, n, seed, confidence)


def mean_score(rows: Sequence[dict]) -> float:
    """Mean per-question score in percent (the per-skill statistic)."""
    return 100 * float(np.mean([row["score"] for row in rows]))


def paired_test(statistic: Callable[[Sequence[dict]], float], rows_a: Sequence[Sequence[dict]],
                rows_b: Sequence[Sequence[dict]], n: int = 1000, seed: int = 0, confidence: float = 0.95
                ) -> dict[str, Any]:
    """Difference of seed-mean statistics (a - b) on the same questions, images resampled for both at once."""
    _check_aligned(rows_a, rows_b)
    groups = _groups(rows_a[0])

    def difference(pick: Callable[[Sequence[dict]], Sequence[dict]]) -> float:
        return float(np.mean([statistic(pick(r)) for r in rows_a]) - np.mean([statistic(pick(r)) for r in rows_b]))

    observed = difference(lambda rows: rows)
    per_seed = [float(statistic(ra) - statistic(rb)) for ra, rb in zip(rows_a, rows_b, strict=True)]
    diffs = np.asarray([difference(partial(_pick, groups=groups, draw=d)) for d in _resamples(len(groups), n, seed)])
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(diffs, [tail, 100 - tail])
    p_value = (1 + np.count_nonzero(np.abs(diffs - observed) >= abs(observed))) / (1 + n)
    return {"diff": observed, "low": float(low), "high": float(high), "p_value": float(p_value),
            # Both criteria must agree: the interval excludes zero AND the centred p-value is below 1 - confidence.
            "significant": bool((low > 0 or high < 0) and p_value < 1 - confidence), "confidence": confidence,
            "n": len(rows_a[0]), "n_images": len(groups),
            # Seeds vary training only; a difference that changes sign between them is not a property of the design.
            "per_seed": per_seed, "seeds_same_sign": sum(1 for d in per_seed if d * observed > 0)}


def _check_aligned(rows_a: Sequence[Sequence[dict]], rows_b: Sequence[Sequence[dict]]) -> None:
    if len(rows_a) != len(rows_b):
        raise ValueError(f"paired comparison needs the same seeds: {len(rows_a)} vs {len(rows_b)} runs")
    ids_a = [r["id"] for r in rows_a[0]]
    for rows in (*rows_a, *rows_b):
        if [r["id"] for r in rows] != ids_a:
            raise ValueError("paired comparison needs the same questions in the same order")
