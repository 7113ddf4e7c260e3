"""POPE metrics as LLaVA-1.5's eval_pope.py computes them ("yes" is the positive class).

Parsing keeps the text before the first '.', deletes commas, splits on single spaces and answers "no"
when one of the words is exactly "No", "no" or "not" (case-sensitive: "NO" or "Not" mean yes), else
"yes". Per split: accuracy, precision, recall, F1 and the share of PREDICTED yes. LLaVA-1.5 reports
the mean F1 over the three splits; the pooled metrics over all rows are given as well, labelled.

Beside it, lmms-eval's strict rule (`exact_match`): the lowercased, stripped answer must be exactly "yes"
or "no". Any other answer is wrong for accuracy and, as lmms-eval counts, left out of precision and recall.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tunebench.evaluation.metrics._common import headline, meta_field, require_rows

NAME = "pope"
SPLITS = ("random", "popular", "adversarial")
_NEGATIVE_WORDS = frozenset({"No", "no", "not"})


def parse(raw_output: str) -> str:
    """LLaVA's rule -> "yes" or "no". The output is stripped first, as LLaVA's decoding does."""
    first_sentence = raw_output.strip().split(".")[0]
    words = first_sentence.replace(",", "").split(" ")
    return "no" if _NEGATIVE_WORDS.intersection(words) else "yes"


def gold_label(answers: tuple[str, ...]) -> str:
    """The single gold label, which must be exactly "yes" or "no"."""
    if len(answers) != 1 or answers[0] not in ("yes", "no"):
        raise ValueError(f"pope: the gold answer must be one 'yes' or 'no', got {answers!r}")
    return answers[0]


def score(parsed: str, answers: tuple[str, ...], meta: Mapping[str, Any] | None = None) -> float:
    """1.0 when the parsed yes/no equals the gold label, else 0.0 (per-sample accuracy)."""
    return 1.0 if parsed == gold_label(answers) else 0.0


@dataclass(frozen=True)
class Confusion:
    """Counts with "yes" as the positive class."""

    tp: int
    fp: int
    tn: int
    fn: int

    @classmethod
    def from_pairs(cls, pairs: Sequence[tuple[str, str]]) -> Confusion:
        """From (predicted, gold) label pairs; any prediction other than "no" counts as yes."""
        tp = sum(pred != "no" and gold == "yes" for pred, gold in pairs)
        fp = sum(pred != "no" and gold == "no" for pred, gold in pairs)
        tn = sum(pred == "no" and gold == "no" for pred, gold in pairs)
        fn = sum(pred == "no" and gold == "yes" for pred, gold in pairs)
        return cls(tp=tp, fp=fp, tn=tn, fn=fn)

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.tn + self.fn


def _ratio(numerator: int, denominator: int) -> float:
    """0.0 where the official script would divide by zero (e.g. no predicted yes at all)."""
    return numerator / denominator if denominator else 0.0


def metrics_from_confusion(counts: Confusion) -> dict[str, Any]:
    """accuracy, precision, recall, F1 and yes-ratio of predictions, all in percent."""
    precision = _ratio(counts.tp, counts.tp + counts.fp)
    recall = _ratio(counts.tp, counts.tp + counts.fn)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": 100.0 * _ratio(counts.tp + counts.tn, counts.total),
        "precision": 100.0 * precision,
        "recall": 100.0 * recall,
        "f1": 100.0 * f1,
        "yes_ratio": 100.0 * _ratio(counts.tp + counts.fp, counts.total),
        "n": counts.total,
        "confusion": {"tp": counts.tp, "fp": counts.fp, "tn": counts.tn, "fn": counts.fn},
    }


def _metrics_of(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    pairs = [(str(row["parsed"]), gold_label(tuple(row["answers"]))) for row in rows]
    return metrics_from_confusion(Confusion.from_pairs(pairs))


def parse_exact(raw_output: str) -> str:
    """lmms-eval's rule: the answer lowercased and stripped; only exactly "yes" or "no" is an answer."""
    return raw_output.lower().strip()


def exact_metrics(raws: Sequence[str], golds: Sequence[str]) -> dict[str, Any]:
    """accuracy, precision, recall, F1 (percent) under lmms-eval's exact match, plus the share of predictions
    that are exactly "yes" and the count that are neither "yes" nor "no"."""
    preds = [parse_exact(raw) for raw in raws]
    pairs = list(zip(preds, golds, strict=True))
    tp = sum(p == "yes" and g == "yes" for p, g in pairs)
    fp = sum(p == "yes" and g == "no" for p, g in pairs)
    fn = sum(p == "no" and g == "yes" for p, g in pairs)
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": 100.0 * _ratio(sum(p == g for p, g in pairs), len(pairs)), "precision": 100.0 * precision,
            "recall": 100.0 * recall, "f1": 100.0 * f1, "yes_ratio": 100.0 * _ratio(tp + fp, len(pairs)),
            "neither_yes_nor_no": sum(p not in ("yes", "no") for p in preds), "n": len(pairs)}


def _exact_of(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return exact_metrics([str(row["raw"]) for row in rows], [gold_label(tuple(row["answers"])) for row in rows])


def _exact_section(groups: Mapping[str, Sequence[Mapping[str, Any]]], rows: Sequence[Mapping[str, Any]]
                   ) -> dict[str, Any] | None:
    """lmms-eval's strict scoring, per split, mean over splits and pooled; None when raw answers are missing."""
    if not all("raw" in row for row in rows):
        return None
    splits = {name: _exact_of(group) for name, group in groups.items()}
    return {"rule": "lmms-eval exact match", "splits": splits,
            "mean_f1": sum(s["f1"] for s in splits.values()) / len(splits),
            "mean_accuracy": sum(s["accuracy"] for s in splits.values()) / len(splits), "pooled": _exact_of(rows)}


def aggregate(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per-split metrics (meta "split"), their mean F1 / accuracy, and the pooled metrics."""
    require_rows(rows, NAME)
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(meta_field(row, "split", NAME)), []).append(row)
    splits = {name: _metrics_of(group) for name, group in groups.items()}
    mean_f1 = sum(split["f1"] for split in splits.values()) / len(splits)
    return {
        "rule": "LLaVA eval_pope",
        "splits": splits,
        "mean_f1": mean_f1,
        "mean_accuracy": sum(split["accuracy"] for split in splits.values()) / len(splits),
        "splits_present": sorted(splits),
        "pooled": _metrics_of(rows),
        "exact_match": _exact_section(groups, rows),
        "headline": headline("pope_mean_f1", mean_f1),
    }
