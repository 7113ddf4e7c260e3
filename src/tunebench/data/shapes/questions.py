"""Question-answer pairs read off a scene graph, one generator per question type.

Every question type carries its skill tag and the labels the benchmark formats need: the VQA-v2
answer type and question type, and GQA's structural / semantic / detailed types.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from tunebench.core.errors import DataError
from tunebench.data.shapes.refer import count_matching, phrase, refer
from tunebench.data.shapes.vocab import COLORS, SHAPES, SIZES, number_word, plural, with_article
from tunebench.data.shapes.world import Obj, Scene, horizontal, relation, vertical


@dataclass(frozen=True)
class QType:
    name: str
    skill: str
    answer_type: str  # VQA-v2: "yes/no" | "number" | "other"
    vqa_type: str  # VQA-v2 question_type (the question's opening words)
    structural: str  # GQA types
    semantic: str
    detailed: str
    in_vqa: bool = True
    in_gqa: bool = True


QTYPES: dict[str, QType] = {q.name: q for q in (
    QType("color", "color", "other", "what color is the", "query", "attr", "queryColor"),
    QType("shape", "shape", "other", "what shape is the", "query", "cat", "queryShape"),
    QType("size", "size", "other", "what size is the", "choose", "attr", "chooseSize"),
    QType("count", "count", "number", "how many", "query", "obj", "count", in_gqa=False),
    QType("exist", "existence", "yes/no", "is there a", "verify", "obj", "exist"),
    QType("exist_logic", "existence", "yes/no", "is there", "logical", "obj", "existLogic", in_vqa=False),
    QType("size_compare", "size", "yes/no", "is the", "compare", "attr", "sameSize"),
    QType("spatial_verify", "spatial", "yes/no", "is the", "verify", "rel", "relVerify"),
    QType("spatial_choose", "spatial", "other", "which side of the", "choose", "rel", "relChoose"),
    QType("position", "position", "other", "which part of the", "query", "attr", "positionQuery"),
    # POPE's and MME's form (the object category alone); a training-only type, off unless a question mix asks.
    QType("exist_shape", "existence", "yes/no", "is there a", "verify", "obj", "exist", in_vqa=False,
          in_gqa=False),
)}
# Relative weights of the question types in the stage-2 mix; `exist_shape` is off by default.
DEFAULT_MIX: dict[str, float] = {name: 0.0 if name == "exist_shape" else 1.0 for name in QTYPES}


def question_mix(changes: Mapping[str, float]) -> dict[str, float]:
    """The default mix with `changes` applied, checked: known question types, weights >= 0, not all zero."""
    unknown = sorted(set(changes) - set(QTYPES))
    if unknown:
        raise DataError(f"unknown question type {unknown[0]!r} in the question mix; known: {', '.join(QTYPES)}")
    negative = [k for k, w in changes.items() if w < 0]
    if negative:
        raise DataError(f"question-mix weight of {negative[0]!r} is {changes[negative[0]]}; weights must be >= 0")
    mix = DEFAULT_MIX | {k: float(w) for k, w in changes.items()}
    if not any(mix.values()):
        raise DataError("every question-mix weight is 0; at least one question type must be asked")
    return mix


@dataclass(frozen=True)
class QA:
    image_id: int
    qtype: str
    question: str
    answer: str
    full_answer: str

    @property
    def spec(self) -> QType:
        return QTYPES[self.qtype]

    @property
    def skill(self) -> str:
        return self.spec.skill


Generator = Callable[[Scene, random.Random], Iterator[tuple[str, str, str]]]


def _color(scene: Scene, rng: random.Random) -> Iterator[tuple[str, str, str]]:
    for obj in scene.objects:
        if d := refer(obj, scene, exclude="color"):
            yield f"What color is the {d}?", obj.color, f"The {d} is {obj.color}."


def _shape(scene: Scene, rng: random.Random) -> Iterator[tuple[str, str, str]]:
    for obj in scene.objects:
        if d := refer(obj, scene, exclude="shape"):
            yield f"What shape is the {d}?", obj.shape, f"The {d} is {with_article(obj.shape)}."


def _size(scene: Scene, rng: random.Random) -> Iterator[tuple[str, str, str]]:
    for obj in scene.objects:
        if d := refer(obj, scene, exclude="size"):
            yield f"What size is the {d}, small or large?", obj.size, f"The {d} is {obj.size}."


def _count(scene: Scene, rng: random.Random) -> Iterator[tuple[str, str, str]]:
    groups: list[dict[str, str]] = [{}]
    groups += [{"shape": s} for s in SHAPES] + [{"color": c} for c in COLORS]
    groups += [{"color": o.color, "shape": o.shape} for o in scene.objects]
    for values in groups:
        n = count_matching(scene, values)
        noun = plural(phrase(values))
        verb = "is" if n == 1 else "are"
        shown = phrase(values) if n == 1 else noun
        yield f"How many {noun} are there?", str(n), f"There {verb} {number_word(n)} {shown}."


def _random_values(obj: Obj, rng: random.Random) -> dict[str, str]:
    keys = rng.choice((("shape",), ("color", "shape"), ("size", "color", "shape")))
    return {k: obj.attr(k) for k in keys}


def _absent_values(obj: Obj, scene: Scene, rng: random.Random) -> dict[str, str] | None:
    """The object's description with one attribute changed so that nothing in the scene matches."""
    values = _random_values(obj, rng)
    key = rng.choice(sorted(values))
    options = {"shape": SHAPES, "color": tuple(COLORS), "size": SIZES}[key]
    for value in rng.sample(options, len(options)):
        changed = {**values, key: value}
        if count_matching(scene, changed) == 0:
            return changed
    return None


def _exist(scene: Scene, rng: random.Random) -> Iterator[tuple[str, str, str]]:
    for obj in scene.objects:
        yield _is_there(phrase(_random_values(obj, rng)), present=True)
        if absent := _absent_values(obj, scene, rng):
            yield _is_there(phrase(absent), present=False)


def _is_there(p: str, present: bool) -> tuple[str, str, str]:
    """'Is there a {p} in the image?' with its short and full answers."""
    full = f"Yes, there is {with_article(p)}." if present else f"No, there is no {p}."
    return f"Is there {with_article(p)} in the image?", "yes" if present else "no", full


def _exist_shape(scene: Scene, rng: random.Random) -> Iterator[tuple[str, str, str]]:
    present = {obj.shape for obj in scene.objects}
    for shape in SHAPES:
        yield _is_there(shape, present=shape in present)


def _exist_logic(scene: Scene, rng: random.Random) -> Iterator[tuple[str, str, str]]:
    """'or' and 'both ... and' questions, each asked with yes and with no answers (no wording shortcut)."""
    for obj in scene.objects:
        present = phrase(_random_values(obj, rng))
        absent_values, other_values = _absent_values(obj, scene, rng), _absent_values(obj, scene, rng)
        if absent_values is None:
            continue
        absent = phrase(absent_values)
        first, second = rng.sample([present, absent], 2)
        yield (f"Is there {with_article(first)} or {with_article(second)} in the image?", "yes",
               f"Yes, there is {with_article(present)}.")
        yield (f"Is there both {with_article(first)} and {with_article(second)} in the image?", "no",
               f"No, there is no {absent}.")
        if other_values and phrase(other_values) != absent:
            other = phrase(other_values)
            yield (f"Is there {with_article(absent)} or {with_article(other)} in the image?", "no",
                   f"No, there is neither {with_article(absent)} nor {with_article(other)}.")
        partner = rng.choice(scene.objects)
        partner_phrase = phrase(_random_values(partner, rng))
        if partner is not obj and partner_phrase != present:
            yield (f"Is there both {with_article(present)} and {with_article(partner_phrase)} in the image?",
                   "yes", f"Yes, there are both {with_article(present)} and {with_article(partner_phrase)}.")


def _pairs(scene: Scene) -> Iterator[tuple[Obj, str, Obj, str]]:
    refs = [(obj, refer(obj, scene)) for obj in scene.objects]
    for a, da in refs:
        for b, db in refs:
            if a is not b and da and db:
                yield a, da, b, db


def _size_compare(scene: Scene, rng: random.Random) -> Iterator[tuple[str, str, str]]:
    for a, da, b, db in _pairs(scene):
        same = a.size == b.size
        full = f"{'Yes' if same else 'No'}, the {da} is {a.size} and the {db} is {b.size}."
        yield f"Is the {da} the same size as the {db}?", "yes" if same else "no", full


_RELATION_TEXT = {"left": "to the left of", "right": "to the right of", "above": "above", "below": "below"}
_OPPOSITE = {"left": "right", "right": "left", "above": "below", "below": "above"}


def _spatial_verify(scene: Scene, rng: random.Random) -> Iterator[tuple[str, str, str]]:
    for a, da, b, db in _pairs(scene):
        for axis in ("x", "y"):
            if rel := relation(a, b, scene, axis):
                true_text = f"the {da} is {_RELATION_TEXT[rel]} the {db}"
                yield f"Is the {da} {_RELATION_TEXT[rel]} the {db}?", "yes", f"Yes, {true_text}."
                wrong = _RELATION_TEXT[_OPPOSITE[rel]]
                yield f"Is the {da} {wrong} the {db}?", "no", f"No, {true_text}."


def _spatial_choose(scene: Scene, rng: random.Random) -> Iterator[tuple[str, str, str]]:
    for a, da, b, db in _pairs(scene):
        if rel := relation(a, b, scene, "x"):
            yield (f"Which side of the {db} is the {da} on, left or right?", rel,
                   f"The {da} is to the {rel} of the {db}.")


def _position(scene: Scene, rng: random.Random) -> Iterator[tuple[str, str, str]]:
    for obj in scene.objects:
        d = refer(obj, scene)
        if d is None:
            continue
        if h := horizontal(obj, scene):
            where = "in the center" if h == "center" else f"on the {h}"
            yield (f"Which part of the image is the {d} in, left, center or right?", h,
                   f"The {d} is {where} of the image.")
        if v := vertical(obj, scene):
            where = "in the middle" if v == "middle" else f"at the {v}"
            yield (f"Which part of the image is the {d} in, top, middle or bottom?", v,
                   f"The {d} is {where} of the image.")


GENERATORS: dict[str, Generator] = {
    "color": _color, "shape": _shape, "size": _size, "count": _count, "exist": _exist,
    "exist_logic": _exist_logic, "size_compare": _size_compare, "spatial_verify": _spatial_verify,
    "spatial_choose": _spatial_choose, "position": _position, "exist_shape": _exist_shape,
}


def candidates(scene: Scene, qtype: str, rng: random.Random) -> list[QA]:
    """Every distinct question of one type about a scene (first answer kept for a repeated text)."""
    seen: dict[str, QA] = {}
    for question, answer, full in GENERATORS[qtype](scene, rng):
        seen.setdefault(question, QA(scene.image_id, qtype, question, answer, full))
    return list(seen.values())
