"""MME scores as the official eval_tool (calculation.py) computes them.

Answer parsing: the lowercased output is "yes"/"no" when exactly that; otherwise the first 4 characters
are searched for "yes", then for "no"; anything else is "other", which is always wrong.
Per subtask: acc = share of questions right, acc+ = share of images with both questions right,
score = 100*acc + 100*acc+. Perception and cognition totals sum the subtask scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tunebench.evaluation.metrics._common import headline, meta_field, require_rows

NAME = "mme"
PERCEPTION = ("existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark",
              "artwork", "OCR")  # fmt: skip
COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")
QUESTIONS_PER_IMAGE = 2
_PREFIX_CHARS = 4


def parse(raw_output: str) -> str:
    """Official yes/no parsing -> "yes", "no" or "other".

    The output is stripped first, as LLaVA's decoding does before the answer file is written.
    """
    answer = raw_output.strip().lower()
    if answer in ("yes", "no"):
        return answer
    prefix = answer[:_PREFIX_CHARS]
    if "yes" in prefix:
        return "yes"
    if "no" in prefix:
        return "no"
    return "other"


def score(parsed: str, answers: tuple[str, ...], meta: Mapping[str, Any] | None = None) -> float:
    """1.0 when the parsed label equals the (lowercased) gold "yes"/"no", else 0.0."""
    if len(answers) != 1 or answers[0].lower() not in ("yes", "no"):
        raise ValueError(f"mme: the gold answer must be one 'yes' or 'no', got {answers!r}")
    return 1.0 if parsed == answers[0].lower() else 0.0


def subtask_result(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """acc, acc+ (fractions) and score (0-200) of one subtask's rows.

    An image counts for acc+ only when all its questions are right. The official tool requires
    exactly two questions per image; images with another count are reported in "incomplete_images"
    rather than rejected, so that subsets can still be scored (their acc+ is then not official).
    """
    images: dict[str, list[bool]] = {}
    for row in rows:
        image = str(meta_field(row, "image", NAME))
        images.setdefault(image, []).append(float(row["score"]) >= 1.0)
    correct = [ok for results in images.values() for ok in results]
    acc = sum(correct) / len(correct)
    acc_plus = sum(all(results) for results in images.values()) / len(images)
    return {
        "acc": acc,
        "acc_plus": acc_plus,
        "score": 100.0 * acc + 100.0 * acc_plus,
        "n_questions": len(correct),
        "n_images": len(images),
        "n_other": sum(1 for row in rows if row.get("parsed") == "other"),
        "incomplete_images": sum(len(results) != QUESTIONS_PER_IMAGE for results in images.values()),
    }


def _group_by_subtask(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(meta_field(row, "subtask", NAME)), []).append(row)
    return groups


def _total(subtasks: Mapping[str, dict], names: Sequence[str]) -> dict[str, Any]:
    present = [name for name in names if name in subtasks]
    return {
        "score": sum(subtasks[name]["score"] for name in present),
        "subtasks_present": present,
        "complete": len(present) == len(names),
    }


def aggregate(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per-subtask results and the perception / cognition totals over the subtasks present.

    Needs meta "subtask" (official names, e.g. "OCR") and meta "image" (pairs the two questions).
    """
    require_rows(rows, NAME)
    subtasks = {name: subtask_result(group) for name, group in _group_by_subtask(rows).items()}
    perception = _total(subtasks, PERCEPTION)
    cognition = _total(subtasks, COGNITION)
    return {
        "subtasks": subtasks,
        "perception": perception,
        "cognition": cognition,
        "total": perception["score"] + cognition["score"],
        "unknown_subtasks": sorted(set(subtasks) - set(PERCEPTION) - set(COGNITION)),
        "headline": headline("mme_perception", perception["score"]),
    }
