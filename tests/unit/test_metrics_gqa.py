"""GQA: LLaVA's post-processing and the official exact-match breakdowns."""

import pytest

from tunebench.evaluation.metrics import gqa


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("Table.", "table"),
        ("  Yes. ", "yes"),
        ("left...", "left"),  # rstrip('.') drops every trailing period
        ("U.S.", "u.s"),  # inner periods stay
        ("No", "no"),
        ("red car", "red car"),
    ],
)
def test_parse(raw, parsed):
    assert gqa.parse(raw) == parsed


def test_score_is_exact_match_without_further_normalisation():
    assert gqa.score("table", ("table",)) == 1.0
    assert gqa.score("the table", ("table",)) == 0.0
    assert gqa.score("tables", ("table",)) == 0.0


def test_score_needs_gold():
    with pytest.raises(ValueError):
        gqa.score("table", ())


def _row(score: float, structural: str, semantic: str) -> dict:
    return {"score": score, "parsed": "", "answers": (), "meta": {"structural": structural, "semantic": semantic}}


def test_aggregate_breakdowns():
    rows = [
        _row(1.0, "query", "obj"),
        _row(0.0, "query", "attr"),
        _row(1.0, "verify", "attr"),
        _row(1.0, "logical", "obj"),
        _row(0.0, "compare", "rel"),
    ]
    result = gqa.aggregate(rows)
    assert result["accuracy"] == pytest.approx(60.0)
    assert result["open"] == pytest.approx(50.0)  # only "query" is open
    assert result["binary"] == pytest.approx(200.0 / 3)
    assert result["per_structural"]["query"] == {"accuracy": pytest.approx(50.0), "n": 2}
    assert result["per_structural"]["compare"]["accuracy"] == 0.0
    assert result["per_semantic"]["attr"]["accuracy"] == pytest.approx(50.0)
    assert result["per_semantic"]["obj"] == {"accuracy": pytest.approx(100.0), "n": 2}
    assert result["headline"] == {"name": "gqa_accuracy", "value": pytest.approx(60.0)}


def test_aggregate_without_types_still_gives_accuracy():
    result = gqa.aggregate([{"score": 1.0, "parsed": "a", "answers": ("a",), "meta": {}}])
    assert result["accuracy"] == 100.0
    assert result["per_structural"] == {}
    assert result["binary"] is None
