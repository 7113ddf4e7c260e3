"""Choosing the questions of a set: per question type, a balanced sample spread over the images."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from tunebench.data.shapes.balance import assert_balanced, balanced_select
from tunebench.data.shapes.questions import QA, candidates
from tunebench.data.shapes.vocab import SYNONYMS
from tunebench.data.shapes.world import Scene

VQA_ANSWERS_PER_QUESTION = 10


def select_questions(scenes: Sequence[Scene], qtypes: Sequence[str], per_image: float, seed: int,
                     purpose: str, weights: Mapping[str, float] | None = None) -> list[QA]:
    """About `per_image` questions per scene, split over `qtypes` in proportion to `weights` (evenly when
    none are given), answers balanced per type.

    `purpose` names the random stream, so two sets drawn from the same scenes differ.
    """
    rng = random.Random(f"shapes:{seed}:{purpose}:questions")
    share = {name: weights[name] for name in qtypes} if weights else dict.fromkeys(qtypes, 1.0)
    total = sum(share.values())
    chosen: list[QA] = []
    for name in qtypes:
        target = max(1, round(per_image * len(scenes) * share[name] / total))
        pool = [qa for scene in scenes for qa in candidates(scene, name, rng)]
        chosen += balanced_select(pool, target, answer=lambda q: q.answer, group=lambda q: q.image_id, rng=rng)
    assert_balanced(chosen, qtype=lambda q: q.qtype, answer=lambda q: q.answer, what=purpose)
    order = {name: i for i, name in enumerate(qtypes)}
    chosen.sort(key=lambda q: (q.image_id, order[q.qtype], q.question))
    return chosen


def human_answers(answer: str, rng: random.Random) -> tuple[str, ...]:
    """Ten annotator answers: the canonical one, sometimes with a synonym from a minority (never the
    most common answer, so the canonical answer always scores 100%)."""
    synonyms = SYNONYMS.get(answer, ())
    n_other = rng.randint(0, 4) if synonyms else 0
    answers = [answer] * (VQA_ANSWERS_PER_QUESTION - n_other)
    answers += [rng.choice(synonyms) for _ in range(n_other)]
    rng.shuffle(answers)
    return tuple(answers)
