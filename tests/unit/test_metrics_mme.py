"""MME: the official yes/no parsing, acc, acc+ and the perception / cognition totals."""

import pytest

from tunebench.evaluation.metrics import mme


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("yes", "yes"),
        ("No", "no"),
        ("Yes, there is", "yes"),
        ("YES.", "yes"),
        ("No.", "no"),
        ("There is no", "other"),  # "no" is not in the first 4 characters
        ("I think yes", "other"),
        ("Not sure", "no"),  # "no" inside "not " counts: official behaviour
        ("none", "no"),
        ("ayes", "yes"),
        ("Uh,no", "other"),  # "no" starts at the 4th character, so it is cut off by the 4-char prefix
        ("", "other"),
        ("  yes", "yes"),  # LLaVA strips the decoded output first
    ],
)
def test_parse(raw, label):
    assert mme.parse(raw) == label


def test_score_other_is_wrong_and_gold_is_lowercased():
    assert mme.score("yes", ("Yes",)) == 1.0
    assert mme.score("no", ("yes",)) == 0.0
    assert mme.score("other", ("no",)) == 0.0


def test_score_rejects_non_yes_no_gold():
    with pytest.raises(ValueError):
        mme.score("yes", ("maybe",))


def _row(subtask: str, image: str, score: float, parsed: str = "yes") -> dict:
    return {"score": score, "parsed": parsed, "answers": (), "meta": {"subtask": subtask, "image": image}}


def test_acc_plus_needs_both_questions_of_an_image_right():
    rows = [
        _row("existence", "img1", 1.0),
        _row("existence", "img1", 1.0),
        _row("existence", "img2", 1.0),
        _row("existence", "img2", 0.0, parsed="other"),
    ]
    result = mme.subtask_result(rows)
    assert result["acc"] == pytest.approx(0.75)
    assert result["acc_plus"] == pytest.approx(0.5)
    assert result["score"] == pytest.approx(125.0)
    assert result["n_images"] == 2
    assert result["n_other"] == 1
    assert result["incomplete_images"] == 0


def test_incomplete_images_are_reported():
    result = mme.subtask_result([_row("count", "img1", 1.0)])
    assert result["incomplete_images"] == 1


def test_aggregate_totals_over_present_subtasks():
    rows = [
        *(_row("existence", "e1", 1.0) for _ in range(2)),  # 200
        _row("OCR", "o1", 1.0),
        _row("OCR", "o1", 0.0),  # acc 0.5, acc+ 0 -> 50
        _row("code_reasoning", "c1", 0.0),
        _row("code_reasoning", "c1", 0.0),  # 0
        _row("text_translation", "t1", 1.0),
        _row("text_translation", "t1", 1.0),  # 200
    ]
    result = mme.aggregate(rows)
    assert result["perception"]["score"] == pytest.approx(250.0)
    assert result["perception"]["subtasks_present"] == ["existence", "OCR"]
    assert result["perception"]["complete"] is False
    assert result["cognition"]["score"] == pytest.approx(200.0)
    assert result["total"] == pytest.approx(450.0)
    assert result["headline"] == {"name": "mme_perception", "value": pytest.approx(250.0)}


def test_unknown_subtasks_are_not_in_totals():
    result = mme.aggregate([_row("ocr", "x", 1.0), _row("ocr", "x", 1.0)])
    assert result["perception"]["score"] == 0.0
    assert result["unknown_subtasks"] == ["ocr"]


def test_aggregate_requires_subtask_and_image():
    with pytest.raises(KeyError):
        mme.aggregate([{"score": 1.0, "parsed": "yes", "answers": (), "meta": {"subtask": "count"}}])
