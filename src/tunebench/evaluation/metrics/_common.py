"""Small helpers shared by the benchmark metrics: grouping rows and building result dicts.

Conventions used by every metric module:
- per-sample scores are fractions in [0, 1];
- aggregate accuracies, F1 and the like are reported in percent (0-100), as the official scorers print
  them (MME subtask scores are the exception: 100*acc + 100*acc+, so 0-200 each).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Row = Mapping[str, Any]


def require_rows(rows: Sequence[Row], task: str) -> None:
    """Aggregating nothing is a caller bug, not a 0% score."""
    if not rows:
        raise ValueError(f"{task}: cannot aggregate an empty list of rows")


def percent_mean(values: Iterable[float]) -> float:
    """Mean of per-sample fractions, in percent."""
    items = list(values)
    if not items:
        raise ValueError("percent_mean of no values")
    return 100.0 * sum(items) / len(items)


def meta_of(row: Row) -> Mapping[str, Any]:
    return row.get("meta") or {}


def meta_field(row: Row, key: str, task: str) -> Any:
    """A meta field the aggregation cannot do without; the error names the task and the field."""
    meta = meta_of(row)
    if meta.get(key) is None:
        raise KeyError(f"{task}: row meta lacks {key!r}")
    return meta[key]


def group_rows(rows: Iterable[Row], key: str) -> dict[str, list[Row]]:
    """Rows grouped by a meta field (first-seen order); rows without the field are left out."""
    groups: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        value = meta_of(row).get(key)
        if value is not None:
            groups[str(value)].append(row)
    return dict(groups)


def breakdown(rows: Sequence[Row], key: str, value_name: str = "accuracy") -> dict[str, dict]:
    """{group: {value_name: mean score in percent, "n": count}} over an optional meta field."""
    return {
        name: {value_name: percent_mean(float(row["score"]) for row in group), "n": len(group)}
        for name, group in group_rows(rows, key).items()
    }


def by_skill(rows: Sequence[Row]) -> dict[str, dict]:
    """Mean per-sample score (percent) per meta["skill"]; empty when no row carries a skill."""
    return breakdown(rows, "skill", value_name="mean_score")


def headline(name: str, value: float) -> dict[str, Any]:
    return {"name": name, "value": value}
