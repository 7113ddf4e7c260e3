"""Answer balancing: within a question type no answer may be more than twice as frequent as a
uniform spread over that type's answers, so a model that ignores the image cannot score well.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")
MAX_RATIO = 2.0


def _quota(sizes: list[int], target: int) -> int:
    """Largest per-answer quota q giving at most `target` items while respecting MAX_RATIO."""
    k = len(sizes)

    def total(q: int) -> int:
        return sum(min(n, q) for n in sizes)

    q = 0
    while q < max(sizes) and total(q + 1) <= target:
        q += 1
    while q > 1 and q > MAX_RATIO * total(q) / k:
        q -= 1
    return max(q, 1)


def balanced_select(items: Sequence[T], target: int, answer: Callable[[T], str],
                    group: Callable[[T], Hashable], rng: random.Random) -> list[T]:
    """At most `target` items with answers as even as the pool allows.

    Within an answer, items from groups (images) that have given fewer items so far come first, so
    the questions spread over many images instead of piling up on a few.
    """
    if not items or target <= 0:
        return []
    by_answer: dict[str, list[T]] = defaultdict(list)
    for item in items:
        by_answer[answer(item)].append(item)
    quota = _quota([len(v) for v in by_answer.values()], target)
    chosen: list[T] = []
    for key in sorted(by_answer):
        pool = list(by_answer[key])
        rng.shuffle(pool)
        rank: Counter[Hashable] = Counter()
        ordered = []
        for item in pool:
            ordered.append((rank[group(item)], len(ordered), item))
            rank[group(item)] += 1
        ordered.sort(key=lambda entry: (entry[0], entry[1]))
        chosen.extend(item for _, _, item in ordered[:quota])
    return chosen


def imbalance(items: Iterable[T], qtype: Callable[[T], str], answer: Callable[[T], str]) -> dict[str, float]:
    """Per question type: frequency of its most common answer divided by the uniform frequency."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for item in items:
        counts[qtype(item)][answer(item)] += 1
    return {name: max(c.values()) * len(c) / sum(c.values()) for name, c in counts.items()}


def assert_balanced(items: Iterable[T], qtype: Callable[[T], str], answer: Callable[[T], str],
                    what: str) -> None:
    """Raise if some question type breaks the balance rule (a generator bug, not a user error)."""
    bad = {k: round(v, 2) for k, v in imbalance(items, qtype, answer).items() if v > MAX_RATIO}
    if bad:
        raise AssertionError(f"{what}: answers unbalanced (most common / uniform): {bad}")
