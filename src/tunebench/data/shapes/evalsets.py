"""Held-out evaluation sets built from the test scenes, as items of each benchmark's format."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from tunebench.data.formats.gqa import GqaItem
from tunebench.data.formats.mme import SUFFIX, MmeImage
from tunebench.data.formats.pope import SPLITS, PopeItem
from tunebench.data.formats.vqav2 import VqaItem
from tunebench.data.shapes.balance import assert_balanced
from tunebench.data.shapes.questions import QTYPES
from tunebench.data.shapes.refer import count_matching, refer
from tunebench.data.shapes.select import human_answers, select_questions
from tunebench.data.shapes.vocab import COLORS, SHAPES, number_word, plural, with_article
from tunebench.data.shapes.world import Scene, relation

QUESTIONS_PER_IMAGE = 3
MME_SUBTASKS = ("existence", "count", "position", "color")
POPE_PAIRS_PER_IMAGE = 3


def vqa_items(scenes: Sequence[Scene], seed: int) -> list[VqaItem]:
    qtypes = [q.name for q in QTYPES.values() if q.in_vqa]
    qas = select_questions(scenes, qtypes, QUESTIONS_PER_IMAGE, seed, "vqav2")
    rng = random.Random(f"shapes:{seed}:vqav2:answers")
    items, per_image = [], Counter()
    for qa in qas:
        per_image[qa.image_id] += 1
        items.append(VqaItem(
            question_id=qa.image_id * 1000 + per_image[qa.image_id], image_id=qa.image_id, question=qa.question,
            question_type=qa.spec.vqa_type, answer_type=qa.spec.answer_type,
            answers=human_answers(qa.answer, rng), multiple_choice_answer=qa.answer, skill=qa.skill))
    return items


def gqa_items(scenes: Sequence[Scene], seed: int) -> list[GqaItem]:
    qtypes = [q.name for q in QTYPES.values() if q.in_gqa]
    qas = select_questions(scenes, qtypes, QUESTIONS_PER_IMAGE, seed, "gqa")
    files = {scene.image_id: Path(scene.file).stem for scene in scenes}
    items, per_image = [], Counter()
    for qa in qas:
        per_image[qa.image_id] += 1
        spec = qa.spec
        items.append(GqaItem(
            qid=str(qa.image_id * 1000 + per_image[qa.image_id]), image_id=files[qa.image_id],
            question=qa.question, answer=qa.answer, full_answer=qa.full_answer, structural=spec.structural,
            semantic=spec.semantic, detailed=spec.detailed, skill=qa.skill))
    return items


def _mme_existence(scene: Scene, rng: random.Random) -> tuple[str, str] | None:
    obj = rng.choice(scene.objects)
    absent = [s for s in SHAPES if count_matching(scene, {"shape": s}) == 0]
    if not absent:
        return None
    yes = f"Is there {with_article(obj.shape)} in this image?"
    return yes, f"Is there {with_article(rng.choice(absent))} in this image?"


def _count_question(n: int, shape: str) -> str:
    if n == 1:
        return f"Is there exactly one {shape} in the image?"
    return f"Are there {number_word(n)} {plural(shape)} in the image?"


def _mme_count(scene: Scene, rng: random.Random) -> tuple[str, str] | None:
    shape = rng.choice(sorted({o.shape for o in scene.objects}))
    n = count_matching(scene, {"shape": shape})
    wrong = rng.choice([m for m in (n - 1, n + 1) if m >= 1])
    return _count_question(n, shape), _count_question(wrong, shape)


_SIDE = {"left": "on the left side of", "right": "on the right side of", "above": "above", "below": "below"}
_FLIP = {"left": "right", "right": "left", "above": "below", "below": "above"}


def _mme_position(scene: Scene, rng: random.Random) -> tuple[str, str] | None:
    options = []
    for a in scene.objects:
        for b in scene.objects:
            da, db = refer(a, scene), refer(b, scene)
            if a is b or not da or not db:
                continue
            options += [(da, db, rel) for axis in ("x", "y") if (rel := relation(a, b, scene, axis))]
    if not options:
        return None
    da, db, rel = rng.choice(options)
    return f"Is the {da} {_SIDE[rel]} the {db}?", f"Is the {da} {_SIDE[_FLIP[rel]]} the {db}?"


def _mme_color(scene: Scene, rng: random.Random) -> tuple[str, str] | None:
    obj = rng.choice(scene.objects)
    absent = [c for c in COLORS if count_matching(scene, {"color": c, "shape": obj.shape}) == 0]
    yes = f"Is there {with_article(obj.color + ' ' + obj.shape)} in the image?"
    return yes, f"Is there {with_article(rng.choice(absent) + ' ' + obj.shape)} in the image?"


_MME_BUILDERS = {"existence": _mme_existence, "count": _mme_count, "position": _mme_position,
                 "color": _mme_color}


def mme_images(scenes: Sequence[Scene], image_dir: Path, seed: int) -> list[MmeImage]:
    """Each test scene serves one subtask: the one with the fewest images so far that the scene can
    support (a one-object scene has no position question); one Yes and one No question per image."""
    rng = random.Random(f"shapes:{seed}:mme")
    order = list(scenes)
    rng.shuffle(order)
    counts = dict.fromkeys(MME_SUBTASKS, 0)
    images = []
    for scene in order:
        for subtask in sorted(MME_SUBTASKS, key=lambda name: (counts[name], MME_SUBTASKS.index(name))):
            pair = _MME_BUILDERS[subtask](scene, rng)
            if pair is not None:
                counts[subtask] += 1
                questions = ((pair[0] + SUFFIX, "Yes"), (pair[1] + SUFFIX, "No"))
                images.append(MmeImage(subtask, f"{scene.image_id:012d}.png", image_dir / scene.file, questions))
                break
    images.sort(key=lambda m: (m.subtask, m.file_name))
    pairs = [(m.subtask, answer) for m in images for _, answer in m.questions]
    assert_balanced(pairs, qtype=lambda p: p[0], answer=lambda p: p[1], what="mme")
    return images


def pope_items(scenes: Sequence[Scene], seed: int) -> dict[str, list[PopeItem]]:
    """Per split, for each image the same k present shapes ("yes") and k absent ones ("no"), where
    the absent ones are random, the most frequent in the set, or those that co-occur most with the
    present shapes."""
    rng = random.Random(f"shapes:{seed}:pope")
    present = {s.image_id: sorted({o.shape for o in s.objects}) for s in scenes}
    frequency = Counter(shape for shapes in present.values() for shape in shapes)
    co = Counter((a, b) for shapes in present.values() for a in shapes for b in shapes if a != b)
    result: dict[str, list[PopeItem]] = {split: [] for split in SPLITS}
    for scene in scenes:
        here = present[scene.image_id]
        absent = [s for s in SHAPES if s not in here]
        k = min(POPE_PAIRS_PER_IMAGE, len(here), len(absent))
        if k == 0:
            continue
        positives = rng.sample(here, k)
        negatives = {
            "random": rng.sample(absent, k),
            "popular": sorted(absent, key=lambda s: (-frequency[s], s))[:k],
            "adversarial": sorted(absent, key=lambda s: (-sum(co[(t, s)] for t in here), s))[:k],
        }
        for split in SPLITS:
            items = result[split]
            for shape, label in [(s, "yes") for s in positives] + [(s, "no") for s in negatives[split]]:
                items.append(PopeItem(len(items) + 1, scene.file, f"Is there {with_article(shape)} in the image?",
                                      label))
    for split, items in result.items():
        assert_balanced(items, qtype=lambda item: "pope", answer=lambda item: item.label, what=f"pope {split}")
    return result
