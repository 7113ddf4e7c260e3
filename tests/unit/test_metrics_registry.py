"""The metric registry: one interface over every benchmark, headline and by_skill in every result."""

import pytest

from tunebench.core.errors import UserError
from tunebench.evaluation.metrics import METRICS, Metric, get_metric


def test_registry_keys():
    assert set(METRICS) == {"vqav2", "gqa", "mme", "pope", "squad"}
    assert all(isinstance(metric, Metric) and metric.name == key for key, metric in METRICS.items())


def test_unknown_metric_lists_known_names():
    with pytest.raises(UserError, match="vqav2"):
        get_metric("vqa")


CASES = {
    "vqav2": ("Two", ("2",) * 10, {"answer_type": "number"}, "vqav2_accuracy", 100.0),
    "gqa": ("Table.", ("table",), {"structural": "query", "semantic": "obj"}, "gqa_accuracy", 100.0),
    "mme": ("Yes", ("Yes",), {"subtask": "existence", "image": "a.jpg"}, "mme_perception", 200.0),
    "pope": ("Yes", ("yes",), {"split": "random"}, "pope_mean_f1", 100.0),
    "squad": ("The red dog.", ("red dog",), {}, "squad_f1", 100.0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_evaluate_then_aggregate(name):
    raw, answers, meta, headline_name, headline_value = CASES[name]
    metric = get_metric(name)
    row = metric.evaluate(raw, answers, {**meta, "skill": "counting"})
    assert row["score"] == 1.0
    assert row["parsed"] == metric.parse(raw)
    assert 0.0 <= metric.score(row["parsed"], answers, meta) <= 1.0
    result = metric.aggregate([row])
    assert result["headline"] == {"name": headline_name, "value": pytest.approx(headline_value)}
    assert result["by_skill"] == {"counting": {"mean_score": pytest.approx(100.0), "n": 1}}


def test_by_skill_breakdown_and_rows_without_skill():
    metric = get_metric("gqa")
    rows = [
        metric.evaluate("yes", ("yes",), {"skill": "spatial"}),
        metric.evaluate("no", ("yes",), {"skill": "spatial"}),
        metric.evaluate("red", ("red",), {"skill": "color"}),
        metric.evaluate("red", ("blue",), {}),
    ]
    by_skill = metric.aggregate(rows)["by_skill"]
    assert by_skill == {
        "spatial": {"mean_score": pytest.approx(50.0), "n": 2},
        "color": {"mean_score": pytest.approx(100.0), "n": 1},
    }


def test_by_skill_empty_without_skills():
    metric = get_metric("squad")
    assert metric.aggregate([metric.evaluate("a", ("a",))])["by_skill"] == {}
