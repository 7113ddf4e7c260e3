"""The blind baseline of an evaluation set: always answer the most common answer of the question's
type, without looking at the image, scored with the benchmark's own metric. A set on which this
scores high measures language priors, not vision."""

from __future__ import annotations

import importlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from tunebench.data.records import Record

# Per task: the meta field that defines a question type, and the headline's maximum.
GROUP_BY = {"vqav2": "question_type", "gqa": "detailed", "mme": "subtask", "pope": "split"}
_MME_SUBTASK_MAX = 200.0
YES_NO = {"mme": ("Yes", "No"), "pope": ("yes", "no")}


def _majority(records: Sequence[Record], key: str) -> dict[str, str]:
    """Most common reference answer per type; ties go to the alphabetically first answer."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        counts[str(record.meta.get(key))][record.reference_answer] += 1
    return {group: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for group, c in sorted(counts.items())}


def blind_rows(records: Sequence[Record], task: str, answer: dict[str, str]) -> list[dict[str, Any]]:
    """Scored rows of the blind model that gives `answer[type]` (a baseline's "majority_answer") to each question."""
    metrics = importlib.import_module(f"tunebench.evaluation.metrics.{task}")
    key = GROUP_BY[task]
    rows = []
    for record in records:
        raw = answer[str(record.meta.get(key))]
        parsed = metrics.parse(raw)
        rows.append({"id": record.id, "raw": raw, "parsed": parsed, "answers": list(record.answers),
                     "meta": record.meta, "score": metrics.score(parsed, record.answers, record.meta)})
    return rows


def _score(records: Sequence[Record], task: str, answer: dict[str, str]) -> dict[str, Any]:
    metrics = importlib.import_module(f"tunebench.evaluation.metrics.{task}")
    return metrics.aggregate(blind_rows(records, task, answer))


def blind_baseline(records: Sequence[Record], task: str, fit: Sequence[Record] | None = None) -> dict[str, Any]:
    """Score of the majority-answer-per-type model with tunebench.evaluation.metrics.<task>.

    The majorities come from `fit` (default: the scored records themselves); fit them on a whole file and
    score a subset, or a handful of questions per type would let the baseline memorise their answers.
    On yes/no sets the majority is a coin toss and the headline may favour one answer (POPE's F1 is 0 for
    "always no" but 66.7 for "always yes"), so the constant answer that scores best is the baseline there.
    """
    key = GROUP_BY[task]
    majority = _majority(fit if fit is not None else records, key)
    options = [majority]
    if task in YES_NO:
        options += [{group: constant for group in majority} for constant in YES_NO[task]]
    scored = [(_score(records, task, answer), answer) for answer in options]
    result, majority = max(scored, key=lambda pair: pair[0]["headline"]["value"])  # first of equals wins
    maximum = 100.0
    if task == "mme":
        maximum = _MME_SUBTASK_MAX * len(result["subtasks"])
    headline = result["headline"]
    if task == "pope":  # F1 rewards "always yes"; accuracy (50 for any constant) shows that is no skill
        headline = {**headline, "mean_accuracy": result["mean_accuracy"]}
    return {
        "task": task,
        "model": f"blind: best constant or majority answer per {key}, image never seen",
        "majority_answer": majority,
        "headline": {**headline, "max": maximum, "percent_of_max": 100.0 * headline["value"] / maximum},
        "metrics": result,
    }
