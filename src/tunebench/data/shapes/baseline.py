"""The blind baseline of an evaluation set: always answer the most common answer of the question's
type, without looking at the image, scored with the benchmark's own metric. A set on which this
scores high measures language priors, not vision."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from tunebench.data.records import Record


def _majority(records: Sequence[Record], key: str) -> dict[str, str]:
    """Most common reference answer per type; ties go to the alphabetically first answer."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        counts[str(record.meta.get(key))][record.reference_answer] += 1
    return {group: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for group, c in sorted(counts.items())}


def blind_rows(records: Sequence[Record], task: str, answer: dict[str, str]) -> list[dict[str, Any]]:
    """Scored rows of the blind model that gives `answer[type]` (a baseline's "majority_answer") to each question."""
    from tunebench.evaluation.tasks import get_task

    spec = get_task(task)
    metric, key = spec.metric, spec.question_type
    rows = []
    for record in records:
        raw = answer[str(record.meta.get(key))]
        parsed = metric.parse(raw)
        rows.append({"id": record.id, "raw": raw, "parsed": parsed, "answers": list(record.answers),
                     "meta": record.meta, "score": metric.score(parsed, record.answers, record.meta)})
    return rows


def _score(records: Sequence[Record], task: str, answer: dict[str, str]) -> dict[str, Any]:
    from tunebench.evaluation.tasks import get_task

    return get_task(task).metric.aggregate_fn(blind_rows(records, task, answer))


def blind_baseline(records: Sequence[Record], task: str, fit: Sequence[Record] | None = None) -> dict[str, Any]:
    """Score of the majority-answer-per-type model with the task's own metric.

    The majorities come from `fit` (default: the scored records themselves); fit them on a whole file and
    score a subset, or a handful of questions per type would let the baseline memorise their answers.
    On yes/no sets the majority is a coin toss and the headline may favour one answer (POPE's F1 is 0 for
    "always no" but 66.7 for "always yes"), so the constant answer that scores best is the baseline there.
    """
    from tunebench.evaluation.tasks import get_task

    spec = get_task(task)
    key = spec.question_type
    majority = _majority(fit if fit is not None else records, key)
    options = [majority] + [{group: constant for group in majority} for constant in spec.blind_constants]
    scored = [(_score(records, task, answer), answer) for answer in options]
    result, majority = max(scored, key=lambda pair: pair[0]["headline"]["value"])  # first of equals wins
    maximum = spec.headline_max(result)
    headline = {**result["headline"], **{name: result[name] for name in spec.blind_extra}}
    return {
        "task": task,
        "model": f"blind: best constant or majority answer per {key}, image never seen",
        "majority_answer": majority,
        "headline": {**headline, "max": maximum, "percent_of_max": 100.0 * headline["value"] / maximum},
        "metrics": result,
    }
