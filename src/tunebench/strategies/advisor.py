"""Measured results + the user's constraints -> a recommendation, with the evidence rows behind it.

The rule, applied to the numbers in results.json:
1. Drop strategies that break a constraint: single-request p95 latency over budget, fewer labelled
   examples than the strategy needs (fine-tuning: as many as it was measured with), one-off compute
   plus a year of updates over the compute budget.
2. If the knowledge changes (update frequency not "never"), keep only strategies measured on the
   changed facts after their update whose F1 there is not significantly below the best (paired bootstrap).
3. Among the rest, the best task quality wins; strategies not significantly worse than it are ties,
   and of those the one with the lowest p95 latency, then the lowest yearly compute, is recommended.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tunebench.core.errors import DataError, UserError
from tunebench.core.io import read_json
from tunebench.strategies.config import SCHEMA
from tunebench.strategies.scoring import paired

UPDATES_PER_YEAR = {"never": 0, "yearly": 1, "monthly": 12, "weekly": 52, "daily": 365}
QUALITY = {"knowledge": "f1", "format": "em"}
# What each strategy must redo when knowledge changes, when the results carry no freshness entry for it.
UPDATE_COST = {"rag": ("reindex_s",), "finetune": ("retrain_s",), "finetune_rag": ("reindex_s",)}


def parse_duration(text: str | None) -> float | None:
    """'90', '90s', '15m', '2h' -> seconds."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smh]?)\s*", text)
    if not match:
        raise UserError(f"compute budget '{text}' is not a duration like 90s, 15m or 2h")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


@dataclass
class Constraints:
    update_frequency: str = "never"
    latency_budget_ms: float | None = None
    labelled_examples: int | None = None  # None: as many as the measurement used
    compute_budget_s: float | None = None  # one-off + one year of updates, on the measured machine

    def __post_init__(self) -> None:
        if self.update_frequency not in UPDATES_PER_YEAR:
            raise UserError(f"update frequency must be one of {', '.join(UPDATES_PER_YEAR)}")


@dataclass
class Evidence:
    strategy: str
    quality: float
    quality_low: float
    quality_high: float
    latency_p95_ms: float | None
    one_off_s: float
    update_s: float
    yearly_compute_s: float
    fresh_f1: float | None = None
    stale: float | None = None
    valid: float | None = None
    p_vs_best: float | None = None
    status: str = "candidate"  # recommended | tie | worse | excluded
    reasons: list[str] = field(default_factory=list)


@dataclass
class Advice:
    task: str
    metric: str
    recommended: str | None
    rationale: list[str]
    evidence: list[Evidence]
    constraints: Constraints

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "metric": self.metric, "recommended": self.recommended,
                "rationale": self.rationale, "constraints": asdict(self.constraints),
                "evidence": [asdict(e) for e in self.evidence]}


def _latency(summary: dict) -> float | None:
    stats = summary.get("latency_ms") or summary.get("amortised_ms")
    return stats.get("p95") if stats else None


def _evidence(name: str, summary: dict, metric: str, costs: dict, per_year: int, fresh: dict) -> Evidence:
    ci = summary["metrics"][metric]
    measured_update = (fresh.get(name) or {}).get("update_s")
    update_s = measured_update if measured_update is not None else sum(
        costs.get(key, 0.0) for key in UPDATE_COST.get(name, ()))
    after = (fresh.get(name) or {}).get("after")
    return Evidence(name, ci["mean"], ci["low"], ci["high"], _latency(summary), summary["one_off_s"], update_s,
                    summary["one_off_s"] + update_s * per_year,
                    fresh_f1=after["metrics"]["f1"]["mean"] if after else None,
                    stale=after["metrics"].get("stale", {}).get("mean") if after else None,
                    valid=summary["metrics"].get("valid", {}).get("mean"))


def _constraint_reasons(e: Evidence, summary: dict, c: Constraints) -> list[str]:
    reasons = []
    if c.latency_budget_ms is not None and e.latency_p95_ms is not None and e.latency_p95_ms > c.latency_budget_ms:
        reasons.append(f"p95 latency {e.latency_p95_ms:.0f} ms > budget {c.latency_budget_ms:.0f} ms")
    needed = summary.get("labelled_examples", {}).get("needed", 0)
    if c.labelled_examples is not None and c.labelled_examples < needed:
        reasons.append(f"needs {needed} labelled examples, you have {c.labelled_examples}")
    if c.compute_budget_s is not None and e.yearly_compute_s > c.compute_budget_s:
        reasons.append(f"compute {e.yearly_compute_s:.0f} s (one-off + a year of updates) > budget "
                       f"{c.compute_budget_s:.0f} s")
    return reasons


def _significantly_worse(rows_a: list, rows_best: list, key: str, resamples: int) -> tuple[bool, float | None]:
    test = paired(rows_a, rows_best, key, resamples, seed=0)
    if test is None:
        return False, None
    return bool(test["significant"] and test["diff"] < 0), test["p_value"]


def strategies_results(path: Path) -> dict:
    """The results file of `tunebench strategies`; any other JSON (a list, the results of `bench` or `eval`) is
    refused with one line that says what it is."""
    results = read_json(path)
    if not isinstance(results, dict):
        raise DataError(f"not results of `tunebench strategies` (a JSON {type(results).__name__}, not an object)",
                        where=str(path))
    if results.get("schema") != SCHEMA:
        kind = ("`tunebench bench`" if "arms" in results and "verdict" in results
                else "`tunebench eval`" if "headline" in results else "another program")
        raise DataError(f"these are results of {kind}; `advise` reads the results.json of `tunebench strategies`",
                        where=str(path))
    return results


def advise(results: dict, constraints: Constraints, task: str = "knowledge", resamples: int = 1000) -> Advice:
    if task not in results.get("tasks", {}) or not results["tasks"][task]["strategies"]:
        measured = [t for t, v in results.get("tasks", {}).items() if v.get("strategies")]
        raise UserError(f"the results hold no measurements for task '{task}' (measured: "
                        f"{', '.join(measured) or 'none'})", where="--task")
    # Only the knowledge task has knowledge to update; the update frequency does not apply to the others.
    metric = QUALITY.get(task, "f1")
    per_year = UPDATES_PER_YEAR[constraints.update_frequency] if task == "knowledge" else 0
    strategies = results["tasks"][task]["strategies"]
    fresh = results["tasks"].get("freshness", {}).get("strategies", {}) if task == "knowledge" else {}
    evidence = {n: _evidence(n, s, metric, results.get("costs", {}), per_year, fresh) for n, s in strategies.items()}
    for name, e in evidence.items():
        e.reasons = _constraint_reasons(e, strategies[name], constraints)
    if per_year and task == "knowledge":
        _freshness_filter(evidence, fresh, constraints, resamples)
    alive = [e for e in evidence.values() if not e.reasons]
    rationale: list[str] = []
    for e in evidence.values():
        if e.reasons:
            e.status = "excluded"
    if not alive:
        rationale.append("no strategy meets every constraint; see the reasons per strategy")
        return Advice(task, metric, None, rationale, list(evidence.values()), constraints)
    best = max(alive, key=lambda e: e.quality)
    ties = []
    for e in alive:
        worse, e.p_vs_best = _significantly_worse(strategies[e.strategy]["rows"], strategies[best.strategy]["rows"],
                                                  metric, resamples) if e is not best else (False, None)
        e.status = "worse" if worse else "tie"
        if not worse:
            ties.append(e)
    chosen = min(ties, key=lambda e: (e.latency_p95_ms if e.latency_p95_ms is not None else float("inf"),
                                      e.yearly_compute_s))
    chosen.status = "recommended"
    rationale += _explain(chosen, best, ties, evidence, strategies, metric, constraints, per_year)
    return Advice(task, metric, chosen.strategy, rationale, list(evidence.values()), constraints)


def _freshness_filter(evidence: dict[str, Evidence], fresh: dict, c: Constraints, resamples: int) -> None:
    """Only strategies that meet the constraints compete here: the bar is the best feasible freshness."""
    for name, e in evidence.items():
        if name not in fresh:
            e.reasons.append(f"knowledge changes {c.update_frequency}, but it was not measured on changed facts "
                             "(it has no way to learn them)")
    measured = {n: fresh[n]["after"] for n, e in evidence.items() if n in fresh and not e.reasons}
    if not measured:
        return
    best = max(measured, key=lambda n: measured[n]["metrics"]["f1"]["mean"])
    for name, after in measured.items():
        worse, p = _significantly_worse(after["rows"], measured[best]["rows"], "f1", resamples)
        if worse:
            mine, top = after["metrics"]["f1"]["mean"], measured[best]["metrics"]["f1"]["mean"]
            evidence[name].reasons.append(f"after its update, F1 on changed facts {100 * mine:.1f}% is significantly "
                                          f"below {best}'s {100 * top:.1f}% (p={p:.3f})")


def _explain(chosen: Evidence, best: Evidence, ties: list[Evidence], evidence: dict[str, Evidence],
             strategies: dict, metric: str, c: Constraints, per_year: int) -> list[str]:
    n = strategies[chosen.strategy]["n"]
    lines = [f"{chosen.strategy}: {metric.upper()} {100 * chosen.quality:.1f}% "
             f"[{100 * chosen.quality_low:.1f}, {100 * chosen.quality_high:.1f}] (n={n})"]
    versus = (strategies[chosen.strategy].get("vs_zero_shot") or {}).get(metric)
    if versus and chosen.strategy != "zero_shot":
        lines.append(f"vs zero_shot: {100 * versus['diff']:+.1f} points (paired bootstrap p={versus['p_value']:.3f})")
    if chosen is not best:
        lines.append(f"the top score is {best.strategy} ({100 * best.quality:.1f}%), but the difference is not "
                     f"significant (p={chosen.p_vs_best:.3f}); {chosen.strategy} is faster or cheaper")
    others = [e.strategy for e in ties if e is not chosen]
    if others:
        lines.append(f"statistically tied: {', '.join(others)}; ranked by p95 latency, then yearly compute")
    if chosen.latency_p95_ms is not None:
        lines.append(f"p95 latency {chosen.latency_p95_ms:.0f} ms per request"
                     + (f" (budget {c.latency_budget_ms:.0f} ms)" if c.latency_budget_ms is not None else ""))
    if per_year:
        costs = ", ".join(f"{e.strategy} {e.update_s:.1f} s x {per_year} = {e.update_s * per_year:.0f} s/yr"
                          for e in evidence.values() if e.update_s)
        if costs:
            lines.append(f"updates {c.update_frequency}: {costs}")
        if chosen.fresh_f1 is not None:
            lines.append(f"on changed facts after its update: F1 {100 * chosen.fresh_f1:.1f}%")
    excluded = [e for e in evidence.values() if e.status == "excluded"]
    lines += [f"excluded {e.strategy}: {'; '.join(e.reasons)}" for e in excluded]
    return lines
