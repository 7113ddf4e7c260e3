"""SQuAD: official normalisation, exact match and token F1."""

import pytest

from tunebench.evaluation.metrics import squad


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("The Cat's hat!", "cats hat"),
        ("  an   apple a day ", "apple day"),
        ("Theory", "theory"),  # "the" only as a whole word
        ("U.S.A.", "usa"),
        ("a", ""),
        ("état-major", "étatmajor"),
    ],
)
def test_normalize_answer(text, normalised):
    assert squad.normalize_answer(text) == normalised


def test_exact_match():
    assert squad.exact_match("The Eiffel Tower.", "eiffel tower") == 1.0
    assert squad.exact_match("Eiffel", "eiffel tower") == 0.0


def test_token_f1_partial_overlap():
    # tokens [big, red, dog] vs [red, dog, house]: overlap 2, P = R = 2/3
    assert squad.token_f1("the big red dog", "red dog house") == pytest.approx(2 / 3)


def test_token_f1_counts_repeated_tokens_once_per_occurrence():
    # pred [dog, dog], gold [dog]: overlap 1, P = 1/2, R = 1 -> F1 = 2/3
    assert squad.token_f1("dog dog", "dog") == pytest.approx(2 / 3)


def test_token_f1_no_overlap_and_empty():
    assert squad.token_f1("cat", "dog") == 0.0
    assert squad.token_f1("the", "dog") == 0.0
    assert squad.token_f1("", "a") == 1.0  # both normalise to nothing (v2.0 no-answer rule)


def test_best_over_gold_answers():
    answers = ("Denver Broncos", "the Broncos", "Broncos team")
    assert squad.best_exact_match("broncos", answers) == 1.0
    assert squad.score("Denver", answers) == pytest.approx(2 / 3)


def test_gold_answers_that_normalise_to_nothing_are_ignored():
    assert squad.best_exact_match("dog", ("the", "dog")) == 1.0
    assert squad.best_exact_match("", ("the", "a")) == 1.0


def test_no_gold_answer_scores_against_the_empty_answer():
    assert squad.best_f1("", ()) == 1.0
    assert squad.best_f1("dog", ()) == 0.0


def test_aggregate():
    rows = [
        {"score": squad.score("red dog", ("red dog",)), "parsed": "red dog", "answers": ("red dog",), "meta": {}},
        {"score": squad.score("big red dog", ("red dog house",)), "parsed": "big red dog",
         "answers": ("red dog house",), "meta": {}},
    ]  # fmt: skip
    result = squad.aggregate(rows)
    assert result["exact_match"] == pytest.approx(50.0)
    assert result["f1"] == pytest.approx(100.0 * (1 + 2 / 3) / 2)
    assert result["headline"] == {"name": "squad_f1", "value": pytest.approx(result["f1"])}
