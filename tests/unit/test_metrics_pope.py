"""POPE: LLaVA's parsing and the per-split metrics with "yes" as positive."""

import pytest

from tunebench.evaluation.metrics import pope


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("Yes", "yes"),
        ("No", "no"),
        ("no.", "no"),
        ("No, there is not.", "no"),
        ("Yes, there is a dog.", "yes"),
        ("There is no dog in the image", "no"),
        ("The dog is not visible", "no"),
        ("Yes. There is no cat.", "yes"),  # only the first sentence counts
        ("I see no, nothing", "no"),  # commas are removed before splitting
        ("NO", "yes"),  # case-sensitive word list: "NO" is not a negative word
        ("Not really", "yes"),  # "Not" is not in the list either
        ("nothing here", "yes"),  # whole words only
        ("", "yes"),
    ],
)
def test_parse(raw, label):
    assert pope.parse(raw) == label


def test_score_and_gold_validation():
    assert pope.score("yes", ("yes",)) == 1.0
    assert pope.score("no", ("yes",)) == 0.0
    with pytest.raises(ValueError):
        pope.score("yes", ("Yes",))


def _rows(split: str, pairs: list[tuple[str, str]]) -> list[dict]:
    return [{"score": float(p == g), "parsed": p, "answers": (g,), "meta": {"split": split}} for p, g in pairs]


# gold yes: 4 predicted yes, 1 no -> TP 4, FN 1; gold no: 2 predicted yes, 3 no -> FP 2, TN 3
HAND_CASE = [("yes", "yes")] * 4 + [("no", "yes")] + [("yes", "no")] * 2 + [("no", "no")] * 3


def test_metrics_on_hand_case():
    result = pope.aggregate(_rows("random", HAND_CASE))["splits"]["random"]
    assert result["confusion"] == {"tp": 4, "fp": 2, "tn": 3, "fn": 1}
    assert result["accuracy"] == pytest.approx(70.0)
    assert result["precision"] == pytest.approx(400.0 / 6)
    assert result["recall"] == pytest.approx(80.0)
    assert result["f1"] == pytest.approx(100.0 * 16 / 22)
    assert result["yes_ratio"] == pytest.approx(60.0)  # share of PREDICTED yes, not gold yes


def test_mean_f1_over_splits_and_pooled():
    perfect = [("yes", "yes"), ("no", "no")]
    rows = _rows("random", HAND_CASE) + _rows("popular", perfect)
    result = pope.aggregate(rows)
    assert result["mean_f1"] == pytest.approx((100.0 * 16 / 22 + 100.0) / 2)
    assert result["splits_present"] == ["popular", "random"]
    assert result["pooled"]["confusion"] == {"tp": 5, "fp": 2, "tn": 4, "fn": 1}
    assert result["headline"] == {"name": "pope_mean_f1", "value": pytest.approx(result["mean_f1"])}


def test_no_predicted_yes_gives_zero_not_an_error():
    result = pope.aggregate(_rows("adversarial", [("no", "yes"), ("no", "no")]))["splits"]["adversarial"]
    assert result["precision"] == 0.0
    assert result["f1"] == 0.0
    assert result["accuracy"] == pytest.approx(50.0)


def test_aggregate_requires_split():
    with pytest.raises(KeyError):
        pope.aggregate([{"score": 1.0, "parsed": "yes", "answers": ("yes",), "meta": {}}])


@pytest.mark.parametrize(
    ("raw", "exact"),
    [("Yes", "yes"), (" no\n", "no"), ("YES", "yes"), ("Yes, there is a circle.", "yes, there is a circle."),
     ("yes.", "yes."), ("No", "no")],
)
def test_parse_exact_is_lmms_evals_lowercase_strip(raw, exact):
    assert pope.parse_exact(raw) == exact


def test_exact_match_counts_only_a_bare_yes_or_no_and_sits_beside_llavas_rule():
    raws = ["Yes", "Yes, there is a circle.", "No", "No, there is not.", "yes", "maybe"]
    golds = ["yes", "yes", "no", "no", "no", "yes"]
    pairs = enumerate(zip(raws, golds, strict=True))
    rows = [{"raw": r, "parsed": pope.parse(r), "answers": (g,), "score": float(pope.parse(r) == g),
             "meta": {"split": "random" if i < 3 else "popular"}} for i, (r, g) in pairs]
    exact = pope.exact_metrics(raws, golds)
    # exact: "Yes" a true positive, "No" a true negative, "yes" a false positive; the rest are neither
    assert exact["neither_yes_nor_no"] == 3 and exact["accuracy"] == pytest.approx(100 * 2 / 6)
    assert exact["precision"] == pytest.approx(50.0) and exact["recall"] == pytest.approx(100.0)
    assert exact["yes_ratio"] == pytest.approx(100 * 2 / 6)
    summary = pope.aggregate(rows)
    assert summary["rule"] == "LLaVA eval_pope" and summary["exact_match"]["rule"] == "lmms-eval exact match"
    assert summary["pooled"]["accuracy"] == pytest.approx(100 * 5 / 6)  # LLaVA's rule reads the sentences and "maybe"
    assert summary["exact_match"]["pooled"]["accuracy"] == pytest.approx(100 * 2 / 6)
    assert set(summary["exact_match"]["splits"]) == {"random", "popular"}
    assert pope.aggregate([{k: v for k, v in row.items() if k != "raw"} for row in rows])["exact_match"] is None
