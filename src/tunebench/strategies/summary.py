"""Rows -> the per-strategy summary stored in results.json, and the tables printed at the end of a run."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tunebench.strategies.scoring import paired, percentiles, summarize

Row = dict[str, Any]


@dataclass
class Measured:
    rows: list[Row]
    wall_s: float
    probe_ms: list[float] = field(default_factory=list)


def measure(fn: Callable[[Sequence, int], list[Row]], items: Sequence, batch_size: int, probe: int) -> Measured:
    """Answer every item in batches (timed), then `probe` items one request at a time (single-query latency)."""
    start = time.perf_counter()
    rows = fn(items, batch_size)
    wall = time.perf_counter() - start
    probe_ms = []
    for item in list(items)[:probe]:
        t0 = time.perf_counter()
        fn([item], 1)
        probe_ms.append(1000 * (time.perf_counter() - t0))
    return Measured(rows, wall, probe_ms)


def strategy_summary(measured: Measured, keys: Sequence[str], resamples: int, seed: int, one_off_s: float,
                     labelled: dict[str, int], baseline: Sequence[Row] | None = None) -> dict[str, Any]:
    """Means with 95% CIs, latency (single-request probe and amortised batch cost), prompt size, costs,
    and the paired difference to the zero-shot baseline on the same questions."""
    rows = measured.rows
    summary: dict[str, Any] = {
        "n": len(rows),
        "metrics": summarize(rows, keys, resamples, seed),
        "latency_ms": percentiles(measured.probe_ms),
        "amortised_ms": percentiles([r["ms"] for r in rows]),
        "prompt_tokens": percentiles([r["prompt_tokens"] for r in rows]),
        "one_off_s": one_off_s,
        "wall_s": measured.wall_s,
        "labelled_examples": labelled,
        "rows": rows,
    }
    if baseline is not None:
        summary["vs_zero_shot"] = {k: paired(rows, baseline, k, resamples, seed) for k in ("em", "f1")}
    return summary


def pct(ci: dict | None) -> str:
    if not ci:
        return "-"
    return f"{100 * ci['mean']:.1f} [{100 * ci['low']:.1f}, {100 * ci['high']:.1f}]"


def ms(stats: dict | None, key: str = "p50") -> str:
    return f"{stats[key]:.0f}" if stats else "-"


def task_table_rows(task: dict) -> list[list[str]]:
    """One printable row per strategy: EM, F1, validity, latency, prompt tokens, one-off cost, vs zero-shot."""
    rows = []
    for name, s in task["strategies"].items():
        versus = (s.get("vs_zero_shot") or {}).get("f1")
        diff = f"{100 * versus['diff']:+.1f} (p={versus['p_value']:.3f})" if versus and name != "zero_shot" else "-"
        rows.append([name, pct(s["metrics"].get("em")), pct(s["metrics"].get("f1")), pct(s["metrics"].get("valid")),
                     ms(s["latency_ms"]), ms(s["latency_ms"], "p95"), ms(s["amortised_ms"]),
                     f"{s['prompt_tokens']['mean']:.0f}", f"{s['one_off_s']:.1f}", diff])
    return rows


TASK_COLUMNS = ["strategy", "EM % [95% CI]", "F1 % [95% CI]", "valid %", "p50 ms", "p95 ms", "batch ms/q",
                "prompt tok", "one-off s", "ΔF1 vs zero-shot"]
FRESH_COLUMNS = ["strategy", "update", "update s", "EM before", "stale before", "EM after", "F1 after", "stale after"]


def freshness_table_rows(fresh: dict) -> list[list[str]]:
    rows = []
    for name, s in fresh["strategies"].items():
        before, after = s.get("before"), s["after"]
        update_s = f"{s['update_s']:.1f}" if s.get("update_s") is not None else "-"
        rows.append([name, s["update"], update_s, pct(before["metrics"].get("em")) if before else "-",
                     pct(before["metrics"].get("stale")) if before else "-", pct(after["metrics"].get("em")),
                     pct(after["metrics"].get("f1")), pct(after["metrics"].get("stale"))])
    return rows
