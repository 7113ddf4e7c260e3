"""Property tests: invariants that truly hold for the official normalisers and parsers."""

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from tunebench.evaluation.metrics import gqa, mme, pope, squad, vqav2

# Arbitrary unicode plus text dense in the characters the rules care about.
RULE_CHARS = st.sampled_from(
    list(vqav2.PUNCTUATION) + list(". '\n\t0123456789") + ["the", "a", "an", "two", "none", "dont", "No", "not",
                                                          "yes", "'s", "İ", "Ä"]
)  # fmt: skip
TEXT = st.one_of(st.text(max_size=60), st.lists(RULE_CHARS, max_size=30).map("".join))


def _single_spaced(text: str) -> bool:
    return text == " ".join(text.split())


@settings(max_examples=300)
@given(TEXT)
def test_vqa_parse_output_shape(text):
    parsed = vqav2.parse(text)
    assert parsed == parsed.lower()  # not "no uppercase": e.g. "ℂ" has no lowercase form
    assert _single_spaced(parsed)
    assert not set(parsed) & set(vqav2.PUNCTUATION)
    words = parsed.split()
    assert not set(words) & vqav2.ARTICLES
    assert not set(words) & set(vqav2.NUMBER_WORDS)


@settings(max_examples=300)
@given(TEXT)
def test_vqa_punctuation_step_removes_every_listed_mark(text):
    assert not set(vqav2.process_punctuation(text)) & set(vqav2.PUNCTUATION)


@settings(max_examples=300)
@given(TEXT.filter(lambda text: text.count(".") <= 32))
def test_vqa_normalisation_is_idempotent_below_the_period_cap(text):
    once = vqav2.normalize_answer(text)
    assert vqav2.normalize_answer(once) == once


@given(st.text(max_size=20), st.lists(st.text(max_size=8), min_size=1, max_size=10))
def test_vqa_score_is_a_fraction_in_steps_of_a_thirtieth(prediction, answers):
    value = vqav2.score(prediction, tuple(answers))
    assert 0.0 <= value <= 1.0
    if len(answers) == 10:
        assert abs(value * 30 - round(value * 30)) < 1e-9


@given(TEXT, TEXT)
def test_vqa_unanimous_answers_are_compared_after_whitespace_cleaning_only(prediction, answer):
    expected = 1.0 if vqav2.clean_whitespace(prediction) == vqav2.clean_whitespace(answer) else 0.0
    assert vqav2.score(prediction, (answer,) * 10) == expected


@settings(max_examples=300)
@given(TEXT)
def test_squad_normalisation_is_idempotent_and_clean(text):
    once = squad.normalize_answer(text)
    assert squad.normalize_answer(once) == once
    assert not set(once) & set(string.punctuation)
    assert not set(once.split()) & {"a", "an", "the"}
    assert _single_spaced(once)


@given(TEXT, TEXT)
def test_squad_f1_is_symmetric_bounded_and_at_least_em(prediction, gold):
    f1 = squad.token_f1(prediction, gold)
    assert 0.0 <= f1 <= 1.0
    assert f1 == squad.token_f1(gold, prediction)
    assert f1 >= squad.exact_match(prediction, gold)


@given(TEXT)
def test_squad_self_match_is_perfect(text):
    assert squad.token_f1(text, text) == 1.0
    assert squad.exact_match(text, text) == 1.0


@given(TEXT)
def test_mme_parse_is_a_label(text):
    label = mme.parse(text)
    assert label in ("yes", "no", "other")
    if text.strip().lower().startswith("yes"):
        assert label == "yes"


@given(TEXT)
def test_pope_parse_is_a_label(text):
    label = pope.parse(text)
    assert label in ("yes", "no")
    if "no" not in text.lower():
        assert label == "yes"


@given(TEXT)
def test_gqa_parse_has_no_trailing_period(text):
    parsed = gqa.parse(text)
    assert not parsed.endswith(".")
    assert parsed == parsed.lower()
