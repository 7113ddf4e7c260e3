"""VQA-v2 accuracy as the official evaluation (GT-Vision-Lab vqaEval) defines it.

Two stages, as in the LLaVA-1.5 / lmms-eval pipeline:
1. `parse`: the EvalAI answer processor applied to the model's raw output before submission
   (lowercase, drop "," and "?", split "'s" into " 's", then the official normalisation below).
2. `score`: the official scorer. Whitespace is cleaned on both sides; ONLY when the ground-truth answers
   are not unanimous, the ground truth and the prediction are normalised again (punctuation, then
   digits/articles/contractions). Accuracy is the mean over the leave-one-out subsets of
   min(#matching answers / 3, 1).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from tunebench.evaluation.metrics._common import (
    breakdown,
    headline,
    percent_mean,
    require_rows,
)

NAME = "vqav2"
ANSWER_TYPES = ("yes/no", "number", "other")

# The official contractions table (facts of the official scorer, including its oddities: the capitalised
# keys never match after lowercasing, and "somebody'd" maps to "somebodyd").
CONTRACTIONS: dict[str, str] = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't",
    "dont": "don't", "hadnt": "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've",
    "hasnt": "hasn't", "havent": "haven't", "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've",
    "hes": "he's", "howd": "how'd", "howll": "how'll", "hows": "how's", "Id've": "I'd've",
    "I'dve": "I'd've", "Im": "I'm", "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've",
    "it'dve": "it'd've", "itll": "it'll", "let's": "let's", "maam": "ma'am", "mightnt": "mightn't",
    "mightnt've": "mightn't've", "mightn'tve": "mightn't've", "mightve": "might've",
    "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've",
    "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't", "shouldnt've": "shouldn't've",
    "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd", "somebodyd've": "somebody'd've",
    "somebody'dve": "somebody'd've", "somebodyll": "somebody'll", "somebodys": "somebody's",
    "someoned": "someone'd", "someoned've": "someone'd've", "someone'dve": "someone'd've",
    "someonell": "someone'll", "someones": "someone's", "somethingd": "something'd",
    "somethingd've": "something'd've", "something'dve": "something'd've", "somethingll": "something'll",
    "thats": "that's", "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've",
    "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're", "theyve": "they've",
    "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've", "weve": "we've",
    "werent": "weren't", "whatll": "what'll", "whatre": "what're", "whats": "what's",
    "whatve": "what've", "whens": "when's", "whered": "where'd", "wheres": "where's",
    "whereve": "where've", "whod": "who'd", "whod've": "who'd've", "who'dve": "who'd've",
    "wholl": "who'll", "whos": "who's", "whove": "who've", "whyll": "why'll", "whyre": "why're",
    "whys": "why's", "wont": "won't", "wouldve": "would've", "wouldnt": "wouldn't",
    "wouldnt've": "wouldn't've", "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll",
    "y'allll": "y'all'll", "yall'd've": "y'all'd've", "y'alld've": "y'all'd've",
    "y'all'dve": "y'all'd've", "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've",
    "youll": "you'll", "youre": "you're", "youve": "you've",
}  # fmt: skip

# "none" -> "0" is in the official map too, not only zero..ten.
NUMBER_WORDS: dict[str, str] = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}  # fmt: skip
ARTICLES = frozenset({"a", "an", "the"})
PUNCTUATION = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`",
               ",", "?", "!")  # fmt: skip

_DIGIT_COMMA_DIGIT = re.compile(r"\d,\d")
# The official pattern starts with "(?!<=\d)", a mistyped look-behind that is in fact an always-true
# look-ahead: every period NOT FOLLOWED by a digit is removed (a period after a digit goes too).
_PERIOD = re.compile(r"\.(?!\d)")
# The official call passes re.UNICODE (32) as the positional `count` argument, so at most 32 periods
# are removed per answer. Mirrored on purpose: scores must match the official script.
_OFFICIAL_PERIOD_COUNT = 32


def clean_whitespace(text: str) -> str:
    """Newlines and tabs become spaces, then the ends are stripped (applied to every answer)."""
    return text.replace("\n", " ").replace("\t", " ").strip()


def process_punctuation(text: str) -> str:
    """Official punctuation step: delete or space out each mark, then drop periods not before a digit.

    A mark is deleted when it touches a space anywhere in the ORIGINAL text, or when that text has a
    digit,digit comma (so "1,000" -> "1000"); otherwise every occurrence becomes a space.
    """
    has_digit_comma = _DIGIT_COMMA_DIGIT.search(text) is not None
    out = text
    for mark in PUNCTUATION:
        touches_space = (mark + " ") in text or (" " + mark) in text
        out = out.replace(mark, "" if touches_space or has_digit_comma else " ")
    return _PERIOD.sub("", out, count=_OFFICIAL_PERIOD_COUNT)


def process_digit_article(text: str) -> str:
    """Official word step: lowercase, number words -> digits, drop articles, restore contractions."""
    words = [NUMBER_WORDS.get(word, word) for word in text.lower().split()]
    words = [word for word in words if word not in ARTICLES]
    return " ".join(CONTRACTIONS.get(word, word) for word in words)


def normalize_answer(text: str) -> str:
    """The official normalisation (punctuation step, then word step), in the official order."""
    return process_digit_article(process_punctuation(text))


def parse(raw_output: str) -> str:
    """EvalAI answer processor, as LLaVA-1.5 and lmms-eval apply it to the model's raw output."""
    text = raw_output.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    return normalize_answer(clean_whitespace(text))


def leave_one_out_accuracy(prediction: str, ground_truth: Sequence[str]) -> float:
    """Mean over the n leave-one-out subsets of min(#answers equal to the prediction / 3, 1)."""
    if not ground_truth:
        raise ValueError("vqav2: a question needs at least one ground-truth answer")
    matches = [answer == prediction for answer in ground_truth]
    total = sum(matches)
    per_subset = [min(1.0, (total - own) / 3.0) for own in matches]
    return sum(per_subset) / len(per_subset)


def score(parsed: str, answers: tuple[str, ...], meta: Mapping[str, Any] | None = None) -> float:
    """Official per-question VQA accuracy in [0, 1] of an already parsed prediction."""
    prediction = clean_whitespace(parsed)
    ground_truth = [clean_whitespace(answer) for answer in answers]
    if len(set(ground_truth)) > 1:
        ground_truth = [normalize_answer(answer) for answer in ground_truth]
        prediction = normalize_answer(prediction)
    return leave_one_out_accuracy(prediction, ground_truth)


def aggregate(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Overall accuracy and accuracy per answer type (meta "answer_type"), in percent."""
    require_rows(rows, NAME)
    accuracy = percent_mean(float(row["score"]) for row in rows)
    return {
        "accuracy": accuracy,
        "n": len(rows),
        "per_answer_type": breakdown(rows, "answer_type"),
        "headline": headline("vqav2_accuracy", accuracy),
    }
