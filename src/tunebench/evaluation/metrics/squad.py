"""SQuAD exact match and token F1 as the official evaluation script (v2.0) defines them.

Normalisation: lowercase, remove ASCII punctuation (string.punctuation), replace the words a/an/the by
a space, collapse whitespace. Scores take the best over the gold answers; gold answers that normalise
to nothing are ignored, and a question whose gold answers all do is scored against "" (no-answer).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from tunebench.evaluation.metrics._common import headline, percent_mean, require_rows

NAME = "squad"
_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Official order: lowercase, punctuation, articles, whitespace."""
    lowered = text.lower()
    no_punctuation = "".join(char for char in lowered if char not in _PUNCTUATION)
    no_articles = _ARTICLES.sub(" ", no_punctuation)
    return " ".join(no_articles.split())


def parse(raw_output: str) -> str:
    """SQuAD scores the free-text answer itself; only the ends are stripped (scores unchanged)."""
    return raw_output.strip()


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """Token-overlap F1 of the normalised strings; two empty strings agree (v2.0 no-answer rule)."""
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    overlap = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(pred_tokens)
    recall = overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def scorable_golds(answers: Sequence[str]) -> list[str]:
    """Gold answers that survive normalisation, or [""] when none does (official v2.0)."""
    return [answer for answer in answers if normalize_answer(answer)] or [""]


def best_exact_match(prediction: str, answers: Sequence[str]) -> float:
    return max(exact_match(prediction, gold) for gold in scorable_golds(answers))


def best_f1(prediction: str, answers: Sequence[str]) -> float:
    return max(token_f1(prediction, gold) for gold in scorable_golds(answers))


def score(parsed: str, answers: tuple[str, ...], meta: Mapping[str, Any] | None = None) -> float:
    """Per-question token F1 in [0, 1], best over the gold answers."""
    return best_f1(parsed, answers)


def aggregate(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """EM and F1 in percent. EM is recomputed from parsed/answers; F1 is the mean row score."""
    require_rows(rows, NAME)
    f1 = percent_mean(float(row["score"]) for row in rows)
    em = percent_mean(best_exact_match(str(row["parsed"]), tuple(row["answers"])) for row in rows)
    return {"exact_match": em, "f1": f1, "n": len(rows), "headline": headline("squad_f1", f1)}
