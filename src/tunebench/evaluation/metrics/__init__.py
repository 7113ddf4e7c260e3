"""Official evaluation metrics, one module per benchmark, behind one registry.

Every `Metric` offers the same three steps:
- `parse(raw_output)`: the official answer extraction / pre-processing of the model's raw text;
- `score(parsed, answers, meta)`: the per-sample score, ALWAYS a fraction in [0, 1];
- `aggregate(rows)`: the benchmark's official summary, in percent (MME subtask scores: 0-200 each,
  totals are their sums). Rows are {"score", "parsed", "answers", "meta"}; the result always has
  "headline" ({"name", "value"}) and "by_skill" (mean score in percent per meta["skill"], empty when no
  row has a skill).

Meta fields used: vqav2 "answer_type"; gqa "structural", "semantic"; mme "subtask", "image"; pope "split".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from tunebench.core.errors import UserError
from tunebench.evaluation.metrics import gqa, mme, pope, squad, vqav2
from tunebench.evaluation.metrics._common import by_skill

ScoreFn = Callable[[str, tuple[str, ...], Mapping[str, Any] | None], float]


@dataclass(frozen=True)
class Metric:
    """One benchmark's official parse / score / aggregate."""

    name: str
    parse_fn: Callable[[str], str]
    score_fn: ScoreFn
    aggregate_fn: Callable[[Sequence[Mapping[str, Any]]], dict[str, Any]]

    def parse(self, raw_output: str) -> str:
        return self.parse_fn(raw_output)

    def score(self, parsed: str, answers: tuple[str, ...], meta: Mapping[str, Any] | None = None) -> float:
        return self.score_fn(parsed, tuple(answers), meta or {})

    def evaluate(
        self, raw_output: str, answers: tuple[str, ...], meta: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Parse and score one sample into a row ready for `aggregate`."""
        parsed = self.parse(raw_output)
        row_meta = dict(meta or {})
        score = self.score(parsed, answers, row_meta)
        return {"score": score, "parsed": parsed, "answers": tuple(answers), "meta": row_meta}

    def aggregate(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        result = self.aggregate_fn(rows)
        result["by_skill"] = by_skill(rows)
        return result


def _metric(module: ModuleType) -> Metric:
    return Metric(module.NAME, module.parse, module.score, module.aggregate)


METRICS: dict[str, Metric] = {module.NAME: _metric(module) for module in (vqav2, gqa, mme, pope, squad)}


def get_metric(name: str) -> Metric:
    """The registered metric, with an error that lists the known names."""
    if name not in METRICS:
        raise UserError(f"unknown metric '{name}' (choose: {', '.join(sorted(METRICS))})")
    return METRICS[name]


__all__ = ["METRICS", "Metric", "get_metric"]
