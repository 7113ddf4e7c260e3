"""GQA accuracy: LLaVA-1.5's answer post-processing, then the official eval.py exact match.

LLaVA strips the decoded output, removes trailing periods and lowercases it; the official script then
compares the string with the gold answer as is (no further normalisation) and reports accuracy, the
binary/open split (open = structural type "query"), and accuracy per structural and semantic type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tunebench.evaluation.metrics._common import breakdown, headline, meta_of, percent_mean, require_rows

NAME = "gqa"


def parse(raw_output: str) -> str:
    """Strip (as LLaVA's decoding does), drop ALL trailing periods (str.rstrip('.')), lowercase."""
    return raw_output.strip().rstrip(".").lower()


def score(parsed: str, answers: tuple[str, ...], meta: Mapping[str, Any] | None = None) -> float:
    """1.0 when the parsed answer equals a gold answer exactly (GQA has one), else 0.0."""
    if not answers:
        raise ValueError("gqa: a question needs its gold answer")
    return 1.0 if parsed in answers else 0.0


def _answer_kind(row: Mapping[str, Any]) -> str | None:
    """The official binary/open split: open questions are exactly the "query" structural type."""
    structural = meta_of(row).get("structural")
    if structural is None:
        return None
    return "open" if structural == "query" else "binary"


def _kind_accuracy(rows: Sequence[Mapping[str, Any]], kind: str) -> float | None:
    scores = [float(row["score"]) for row in rows if _answer_kind(row) == kind]
    return percent_mean(scores) if scores else None


def aggregate(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Accuracy overall, binary/open, per meta "structural" and per meta "semantic", in percent."""
    require_rows(rows, NAME)
    accuracy = percent_mean(float(row["score"]) for row in rows)
    return {
        "accuracy": accuracy,
        "n": len(rows),
        "binary": _kind_accuracy(rows, "binary"),
        "open": _kind_accuracy(rows, "open"),
        "per_structural": breakdown(rows, "structural"),
        "per_semantic": breakdown(rows, "semantic"),
        "headline": headline("gqa_accuracy", accuracy),
    }
