"""The advisor on synthetic measurements (every rule and constraint), the `advise` CLI and the report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tunebench.core.errors import UserError
from tunebench.report.strategies import render_report
from tunebench.strategies.advisor import Constraints, advise, parse_duration
from tunebench.strategies.config import SCHEMA
from tunebench.strategies.scoring import paired, percentiles, summarize

N = 60


def _rows(rate: float, prefix: str = "q", script: bool = False) -> list[dict]:
    """Right on the first rate*N questions of one fixed shuffled order: a better strategy's hits include a
    worse one's, as they often do in practice."""
    order = np.random.default_rng(0).permutation(N)
    hits = order < round(rate * N)
    return [{"id": f"{prefix}{i}", "em": float(h), "f1": float(h), "valid": 1.0, "ms": 10.0, "prompt_tokens": 50,
             "raw": "<script>alert(1)</script>" if script and i == 0 else f"answer {i}"} for i, h in enumerate(hits)]


def _strategy(rows: list[dict], p95: float, one_off: float, needed: int = 0, baseline=None) -> dict:
    summary = {"n": len(rows), "metrics": summarize(rows, ("em", "f1", "valid"), 200, 0),
               "latency_ms": {"p50": p95 / 2, "p95": p95, "mean": p95 / 2, "n": 4}, "amortised_ms": percentiles([5.0]),
               "prompt_tokens": percentiles([50.0]), "one_off_s": one_off, "wall_s": 1.0,
               "labelled_examples": {"needed": needed, "measured_with": needed}, "rows": rows}
    if baseline is not None:
        summary["vs_zero_shot"] = {k: paired(rows, baseline, k, 200, 0) for k in ("em", "f1")}
    return summary


def _fresh(rate: float, update_s: float | None, update: str) -> dict:
    rows = [{**r, "stale": 0.0} for r in _rows(rate, prefix="f")]
    after = {"n": N, "metrics": summarize(rows, ("em", "f1", "stale"), 200, 0), "rows": rows,
             "latency_ms": {}, "amortised_ms": percentiles([5.0]), "prompt_tokens": percentiles([50.0]),
             "one_off_s": 0.0, "wall_s": 1.0, "labelled_examples": {"needed": 0, "measured_with": 0}}
    return {"update": update, "update_s": update_s, "before": None, "after": after}


@pytest.fixture()
def results() -> dict:
    zero = _rows(0.05, script=True)
    knowledge = {
        "zero_shot": _strategy(zero, 300, 0.0),
        "few_shot": _strategy(_rows(0.15), 500, 0.1, needed=3, baseline=zero),
        "rag": _strategy(_rows(0.60), 900, 1.0, needed=1, baseline=zero),
        "finetune": _strategy(_rows(0.10), 250, 300.0, needed=60, baseline=zero),
        "finetune_rag": _strategy(_rows(0.62), 450, 301.0, needed=60, baseline=zero),
    }
    fmt_zero = _rows(0.2)
    formats = {"zero_shot": _strategy(fmt_zero, 800, 0.0),
               "few_shot": _strategy(_rows(0.9), 1500, 0.1, needed=3, baseline=fmt_zero)}
    fresh = {"zero_shot": _fresh(0.0, None, "none"), "rag": _fresh(0.7, 0.2, "re-index"),
             "finetune": _fresh(0.05, 50.0, "continued training"),
             "finetune_rag": _fresh(0.68, 50.2, "continued training + re-index")}
    return {
        "schema": SCHEMA,
        "config": {"seed": 0, "bootstrap_resamples": 200},
        "environment": {"versions": {"torch": "x"}},
        "model": {"llm": "tiny <llm>", "dtype": "fp32", "embedder": "e", "weights_hash": "abc"},
        "data": {"source": "generated", "sha256": {"corpus": "00"}, "counts": {"documents": 3, "qa_test": N}},
        "costs": {"index_build_s": 1.0, "reindex_s": 0.2, "finetune_train_s": 300.0, "retrain_s": 50.0},
        "retrieval": {"hybrid": {"recall@1": {"mean": 0.9, "low": 0.8, "high": 1.0, "confidence": 0.95, "n": N}}},
        "tasks": {"knowledge": {"n_test": N, "n_train": 60, "strategies": knowledge},
                  "format": {"n_test": N, "n_train": 10, "strategies": formats},
                  "freshness": {"n": N, "strategies": fresh}},
        "wall_s": 123.0,
    }


def _status(advice) -> dict[str, str]:
    return {e.strategy: e.status for e in advice.evidence}


def test_without_constraints_the_fastest_of_the_statistical_ties_wins(results):
    advice = advise(results, Constraints(), resamples=200)
    status = _status(advice)
    assert advice.recommended == "finetune_rag" and status["rag"] == "tie"
    assert status["zero_shot"] == status["finetune"] == status["few_shot"] == "worse"
    assert any("statistically tied: rag" in line for line in advice.rationale)
    assert any(line.startswith("vs zero_shot: +") for line in advice.rationale)


def test_latency_budget_excludes_slow_strategies(results):
    advice = advise(results, Constraints(latency_budget_ms=400), resamples=200)
    assert advice.recommended == "finetune"
    rag = next(e for e in advice.evidence if e.strategy == "rag")
    assert rag.status == "excluded" and rag.reasons == ["p95 latency 900 ms > budget 400 ms"]


def test_few_labelled_examples_rule_out_fine_tuning(results):
    advice = advise(results, Constraints(labelled_examples=5), resamples=200)
    assert advice.recommended == "rag"
    assert _status(advice)["finetune_rag"] == "excluded"
    assert any("needs 60 labelled examples, you have 5" in line for line in advice.rationale)


def test_frequent_updates_favour_the_cheap_update_that_learns_the_new_facts(results):
    advice = advise(results, Constraints(update_frequency="daily", compute_budget_s=3600), resamples=200)
    assert advice.recommended == "rag"
    reasons = {e.strategy: " ".join(e.reasons) for e in advice.evidence}
    assert "not measured on changed facts" in reasons["few_shot"]
    assert "significantly below rag" in reasons["zero_shot"]
    assert "compute 18624 s" in reasons["finetune_rag"]  # 301 + (50 + 0.2) * 365
    assert any("rag 0.2 s x 365 = 73 s/yr" in line for line in advice.rationale)
    weekly = advise(results, Constraints(update_frequency="weekly"), resamples=200)
    reasons = {e.strategy: " ".join(e.reasons) for e in weekly.evidence}
    assert weekly.recommended == "finetune_rag" and "significantly below rag" in reasons["finetune"]
    assert not reasons["rag"]


def test_nothing_feasible_gives_no_recommendation(results):
    advice = advise(results, Constraints(latency_budget_ms=1), resamples=200)
    assert advice.recommended is None and set(_status(advice).values()) == {"excluded"}


def test_format_task_ranks_by_exact_match(results):
    advice = advise(results, Constraints(update_frequency="weekly"), task="format", resamples=200)
    assert advice.metric == "em" and advice.recommended == "few_shot"


def test_bad_inputs(results):
    with pytest.raises(UserError, match="update frequency"):
        Constraints(update_frequency="hourly")
    with pytest.raises(UserError, match="no measurements"):
        advise(results, Constraints(), task="vision")
    assert parse_duration("90") == 90 and parse_duration("15m") == 900 and parse_duration("2h") == 7200
    assert parse_duration(None) is None
    with pytest.raises(UserError, match="duration"):
        parse_duration("soon")


def test_advise_command(results, tmp_path, capsys):
    from tunebench.cli import main

    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    main(["advise", str(path), "--latency-budget-ms", "400", "--json", str(tmp_path / "advice.json")])
    out = capsys.readouterr().out
    assert "recommendation: finetune" in out and "p95 latency 900 ms > budget 400 ms" in out
    assert json.loads((tmp_path / "advice.json").read_text())["recommended"] == "finetune"


def test_report_is_self_contained_and_escapes_model_output(results, tmp_path):
    html_path, md_path = render_report(results, tmp_path)
    html = html_path.read_text()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert "tiny &lt;llm&gt;" in html
    assert html.count("data:image/png;base64,") == 3 and 'src="http' not in html
    md = md_path.read_text()
    assert "| rag |" in md and "## freshness (n=60)" in md and "**knowledge (updates: never) → finetune_rag**" in md
