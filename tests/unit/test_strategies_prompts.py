"""Prompt builders, answer extraction, JSON validation with retry, and per-question scoring."""

from __future__ import annotations

import pytest

from tunebench.strategies import prompts
from tunebench.strategies.chunking import Chunk
from tunebench.strategies.extraction import Booking
from tunebench.strategies.generation import Generation
from tunebench.strategies.scoring import format_scores, is_stale, qa_scores
from tunebench.strategies.structured import (
    QAAnswer,
    find_json_object,
    find_last_json_object,
    generate_structured,
    validate,
)

GOLD = {"customer": "Mira Olsen", "event": "Velna Jazz Night", "seats": 3, "total_price": 45.5,
        "wheelchair_access": False}


def test_few_shot_and_rag_put_examples_before_the_question():
    turns = prompts.qa_few_shot("Q3?", [("Q1?", "a1"), ("Q2?", "a2")])
    assert [t.role for t in turns] == ["human", "gpt", "human", "gpt", "human"]
    assert turns[1].text == "a1" and turns[-1].text.endswith("Question: Q3?")
    chunk = Chunk("d#0", "d", "Doc", "Doc text.")
    rag = prompts.qa_rag("Q?", [chunk], demos=[("D?", [chunk], "ans")])
    assert [t.role for t in rag] == ["human", "gpt", "human"] and "[1] Doc: Doc text." in rag[-1].text
    assert len(prompts.qa_rag("Q?", [chunk])) == 1


@pytest.mark.parametrize(("reply", "answer"), [
    ("Velna.", "Velna"),
    ("The answer is: 1965\nmore text", "1965"),
    ("\n\n  Answer: Ada Voss  ", "Ada Voss"),
    ('"kite flying"', "kite flying"),
    ("", ""),
])
def test_short_answer(reply, answer):
    assert prompts.short_answer(reply) == answer


def test_cot_answer_takes_the_last_answer_line_else_the_last_line():
    assert prompts.cot_answer("Step 1: x\nAnswer: wrong\nStep 2\nFinal answer: Velna.") == "Velna"
    assert prompts.cot_answer("It was founded long ago.\nIn 1965.") == "In 1965"


def test_json_object_search_respects_strings_and_nesting():
    text = 'Sure! {"a": "has } and { inside", "b": {"c": 1}} then {"d": 2}'
    assert find_json_object(text) == '{"a": "has } and { inside", "b": {"c": 1}}'
    assert find_last_json_object(text) == '{"d": 2}'
    assert find_json_object('{"a": "quote \\" }"}') == '{"a": "quote \\" }"}'
    assert find_json_object("no object {") is None


@pytest.mark.parametrize(("reply", "error"), [
    ('{"customer": "Mira Olsen", "event": "E", "seats": "3", "total_price": 1.0, "wheelchair_access": false}',
     "field 'seats'"),
    ('{"customer": "M", "event": "E", "seats": 3, "total_price": 1.0}', "field 'wheelchair_access'"),
    ('{"customer": "M", "event": "E", "seats": 3, "total_price": 1.0, "wheelchair_access": false, "x": 1}',
     "field 'x'"),
    ('{"customer": "M",}', "invalid JSON"),
    ("no json", "no JSON object found"),
])
def test_strict_validation_names_the_problem(reply, error):
    value, message = validate(reply, Booking)
    assert value is None and error in message


def test_validation_accepts_a_correct_object_and_numbers_as_answers():
    assert validate('x {"answer": 1965}', QAAnswer)[0] == {"answer": 1965}
    value, error = validate('{"customer": "M", "event": "E", "seats": 3, "total_price": 12, "wheelchair_access": true}',
                            Booking)
    assert error is None and value["total_price"] == 12


def _fake_answer(replies_per_round: list[list[str]], seen: list):
    rounds = iter(replies_per_round)

    def answer(conversations):
        seen.append([list(c) for c in conversations])
        texts = next(rounds)
        return [Generation(t, 10, 5, 100.0, len(texts)) for t in texts]

    return answer


def test_structured_retries_only_the_invalid_replies_and_shows_the_error():
    seen: list = []
    answer = _fake_answer([['{"answer": "a"}', "oops", '{"answer": ["x"]}'], ['{"answer": "b"}', "still bad"],
                           ["nope"]], seen)
    replies = generate_structured(answer, [prompts.qa_structured(q) for q in ("Q1?", "Q2?", "Q3?")], QAAnswer, 2)
    assert [r.value for r in replies] == [{"answer": "a"}, {"answer": "b"}, None]
    assert [r.attempts for r in replies] == [1, 2, 3]
    assert len(seen[1]) == 2 and len(seen[2]) == 1
    retry = seen[1][0]
    assert retry[-2].text == "oops" and "no JSON object found" in retry[-1].text
    assert replies[2].error == "no JSON object found" and replies[1].error is None


def test_structured_accumulates_cost_over_attempts():
    seen: list = []
    replies = generate_structured(_fake_answer([["bad"], ["bad"], ['{"answer": "c"}']], seen),
                                  [prompts.qa_structured("Q?")], QAAnswer, 2)
    assert replies[0].attempts == 3 and replies[0].prompt_tokens == 30 and replies[0].ms == pytest.approx(300.0)
    assert replies[0].value == {"answer": "c"}


def test_qa_scores_and_staleness():
    assert qa_scores("The Oskar river", ["Oskar River"]) == {"em": 1.0, "f1": 1.0}
    assert qa_scores("Tam", ["Tam Brek"])["f1"] == pytest.approx(2 / 3)
    assert is_stale("Tam Brek", ["Ora Pim"], ["Tam Brek"]) == 1.0
    assert is_stale("Ora Pim", ["Ora Pim"], ["Tam Brek"]) == 0.0
    assert is_stale("something else", ["Ora Pim"], ["Tam Brek"]) == 0.0
    assert is_stale("Tam Brek", ["Ora Pim"], []) == 0.0


def test_format_scores_validity_exactness_and_partial_credit():
    perfect = '{"customer": "mira olsen", "event": "the Velna Jazz Night", "seats": 3, "total_price": 45.50, ' \
              '"wheelchair_access": false}'
    assert format_scores(perfect, GOLD) == {"valid": 1.0, "em": 1.0, "f1": 1.0}
    wrong_type = perfect.replace('"seats": 3', '"seats": "3"')
    assert format_scores(wrong_type, GOLD) == {"valid": 0.0, "em": 0.0, "f1": 1.0}
    one_wrong = perfect.replace("45.50", "40")
    scores = format_scores(one_wrong, GOLD)
    assert scores["valid"] == 1.0 and scores["em"] == 0.0 and scores["f1"] == pytest.approx(0.8)
    assert format_scores("not json", GOLD) == {"valid": 0.0, "em": 0.0, "f1": 0.0}
    notes = "customer: Mira\n" + perfect
    assert format_scores(notes, GOLD, last=True)["em"] == 1.0
