"""The smoke profile on the real parts (SmolLM2-135M-Instruct, all-MiniLM-L6-v2): every strategy runs,
and the measurements show what they must on a fictional world the model cannot know."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    from tunebench.cli import main

    out = tmp_path_factory.mktemp("strategies-smoke")
    main(["strategies", "--profile", "smoke", "--out", str(out)])
    return json.loads((out / "results.json").read_text()), out


def test_every_strategy_runs_and_writes_the_report(smoke):
    results, out = smoke
    assert results["model"]["llm"] == "smollm2-135m-instruct"
    assert len(results["tasks"]["knowledge"]["strategies"]) == 7 and len(results["tasks"]["format"]["strategies"]) == 5
    assert (out / "report.html").stat().st_size > 10_000 and (out / "report.md").is_file()
    assert (out / "index" / "updated" / "dense.faiss").is_file()


def test_retrieval_finds_the_sources_and_rag_beats_zero_shot(smoke):
    results, _ = smoke
    assert results["retrieval"]["hybrid"]["recall@2"]["mean"] >= 0.8
    knowledge = results["tasks"]["knowledge"]["strategies"]
    assert knowledge["rag"]["metrics"]["f1"]["mean"] > knowledge["zero_shot"]["metrics"]["f1"]["mean"] + 0.2


def test_constrained_output_is_always_valid(smoke):
    results, _ = smoke
    assert results["tasks"]["format"]["strategies"]["structured"]["metrics"]["valid"]["mean"] == 1.0
    assert results["tasks"]["knowledge"]["strategies"]["structured"]["metrics"]["valid"]["mean"] == 1.0


def test_reindexing_is_cheaper_than_retraining_and_rag_learns_the_change(smoke):
    results, _ = smoke
    costs, fresh = results["costs"], results["tasks"]["freshness"]["strategies"]
    assert costs["reindex_s"] < costs["retrain_s"]
    assert fresh["rag"]["after"]["metrics"]["em"]["mean"] > fresh["rag"]["before"]["metrics"]["em"]["mean"]


def test_advise_on_the_measured_results(smoke, capsys):
    from tunebench.cli import main

    _, out = smoke
    main(["advise", str(out / "results.json"), "--update-frequency", "weekly"])
    assert "recommendation:" in capsys.readouterr().out
