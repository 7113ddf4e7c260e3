"""VQA-v2: hand-computed cases for every rule of the official scorer and the EvalAI pre-processing."""

import pytest

from tunebench.evaluation.metrics import vqav2


def _answers(matching: str, n_matching: int, other: str = "cat") -> tuple[str, ...]:
    return (matching,) * n_matching + (other,) * (10 - n_matching)


@pytest.mark.parametrize(
    ("n_matching", "expected"),
    [
        (0, 0.0),
        (1, 0.3),  # 9 subsets keep the match (1/3), 1 loses it (0)
        (2, 0.6),  # 8 subsets with 2 matches (2/3), 2 with 1 (1/3)
        (3, 0.9),  # 7 subsets with 3 matches (1), 3 with 2 (2/3)
        (4, 1.0),
        (10, 1.0),
    ],
)
def test_leave_one_out_accuracy(n_matching, expected):
    assert vqav2.leave_one_out_accuracy("2", list(_answers("2", n_matching))) == pytest.approx(expected)


def test_leave_one_out_needs_answers():
    with pytest.raises(ValueError):
        vqav2.leave_one_out_accuracy("2", [])


def test_score_three_of_ten_annotators():
    assert vqav2.score("2", _answers("2", 3)) == pytest.approx(0.9)


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("Two", "2"),
        ("zero", "0"),
        ("ten", "10"),
        ("none", "0"),  # "none" is in the official number map
        ("eleven", "eleven"),
        ("The dog.", "dog"),
        ("a man on an elephant", "man on elephant"),
        ("dont", "don't"),
        ("Isnt", "isn't"),
        ("1,000", "1000"),
        ("Yes?", "yes"),
        ("3.5", "3.5"),
        ("e.g.", "eg"),
        ("x-ray", "x ray"),
        ("left / right", "left right"),
        ("What's that", "what 's that"),  # EvalAI splits "'s" off before the official steps
        ("  Blue\n", "blue"),
        ("red\tand\nwhite", "red and white"),
    ],
)
def test_parse(raw, parsed):
    assert vqav2.parse(raw) == parsed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,000", "1000"),  # digit,digit comma anywhere: every mark is deleted, not spaced
        ("a,b", "a b"),  # a mark not touching a space becomes a space
        ("yes, it is", "yes it is"),  # touches a space: deleted
        ("(a)-b 3,4", "ab 34"),  # digit comma pattern present: all marks deleted
        ("x-ray (big)", "x ray big "),  # "(" touches a space: deleted; "-" and ")" do not: spaced
        ("end.", "end"),
        ("3.5", "3.5"),
        ("5.", "5"),  # a period after a digit but not before one goes
        ("a.5", "a.5"),  # a period before a digit stays
        ("Dog", "Dog"),  # no lowercasing in the punctuation step
    ],
)
def test_process_punctuation(text, expected):
    assert vqav2.process_punctuation(text) == expected


def test_period_removal_is_capped_like_the_official_call():
    text = "a." * 40
    assert vqav2.process_punctuation(text) == "a" * 32 + "a." * 8


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Two Dogs", "2 dogs"),
        ("an apple", "apple"),
        ("dont  know", "don't know"),
        ("Im", "im"),  # capitalised table keys never match after lowercasing (official behaviour)
        ("somebody'd", "somebodyd"),
    ],
)
def test_process_digit_article(text, expected):
    assert vqav2.process_digit_article(text) == expected


def test_unanimous_ground_truth_is_not_normalised():
    # "Dog." stays "Dog." when all ten agree, so the parsed "dog" never matches.
    assert vqav2.score("dog", ("Dog.",) * 10) == 0.0


def test_unanimous_ground_truth_only_whitespace_cleaned():
    assert vqav2.score("dog", ("dog\n",) * 9 + ("\tdog",)) == 1.0


def test_split_ground_truth_is_normalised():
    assert vqav2.score("dog", ("Dog.",) * 9 + ("the dog",)) == 1.0


def test_unanimous_number_with_comma_is_not_normalised():
    assert vqav2.score(vqav2.parse("1,000"), ("1,000",) * 10) == 0.0
    assert vqav2.score(vqav2.parse("1,000"), ("1,000",) * 9 + ("1000",)) == 1.0


def test_prediction_normalised_again_when_ground_truth_differs():
    # An unparsed prediction still gets the official normalisation in the non-unanimous case.
    assert vqav2.score("Two.", ("2",) * 5 + ("3",) * 5) == 1.0
    assert vqav2.score("Two.", ("2",) * 10) == 0.0


def test_aggregate_overall_and_per_answer_type():
    rows = [
        {"score": 1.0, "parsed": "yes", "answers": (), "meta": {"answer_type": "yes/no"}},
        {"score": 0.0, "parsed": "no", "answers": (), "meta": {"answer_type": "yes/no"}},
        {"score": 0.9, "parsed": "2", "answers": (), "meta": {"answer_type": "number"}},
        {"score": 0.3, "parsed": "dog", "answers": (), "meta": {"answer_type": "other"}},
    ]
    result = vqav2.aggregate(rows)
    assert result["accuracy"] == pytest.approx(55.0)
    assert result["per_answer_type"]["yes/no"] == {"accuracy": pytest.approx(50.0), "n": 2}
    assert result["per_answer_type"]["number"]["accuracy"] == pytest.approx(90.0)
    assert result["per_answer_type"]["other"]["accuracy"] == pytest.approx(30.0)
    assert result["headline"] == {"name": "vqav2_accuracy", "value": pytest.approx(55.0)}


def test_aggregate_rejects_no_rows():
    with pytest.raises(ValueError):
        vqav2.aggregate([])
