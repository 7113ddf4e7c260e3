"""Referring expressions: the shortest description that picks out exactly one object in a scene."""

from __future__ import annotations

from tunebench.data.shapes.world import Obj, Scene

# Tried in this order; the first combination that is unique in the scene wins.
_COMBINATIONS: tuple[tuple[str, ...], ...] = (
    ("shape",),
    ("color",),
    ("color", "shape"),
    ("size", "shape"),
    ("size", "color"),
    ("size", "color", "shape"),
)


def phrase(values: dict[str, str]) -> str:
    """'large red circle', 'red object', 'large object' (attributes in English adjective order)."""
    words = [values[k] for k in ("size", "color") if k in values]
    words.append(values.get("shape", "object"))
    return " ".join(words)


def matches(obj: Obj, values: dict[str, str]) -> bool:
    return all(obj.attr(k) == v for k, v in values.items())


def refer(obj: Obj, scene: Scene, exclude: str | None = None) -> str | None:
    """The shortest unique description of `obj` not using attribute `exclude`, or None.

    The noun is the shape unless the shape is what is asked ('the red object').
    """
    for combo in _COMBINATIONS:
        if exclude in combo or (("shape" in combo) == (exclude == "shape")):
            continue
        values = {k: obj.attr(k) for k in combo}
        if sum(matches(other, values) for other in scene.objects) == 1:
            return phrase(values)
    return None


def count_matching(scene: Scene, values: dict[str, str]) -> int:
    return sum(matches(obj, values) for obj in scene.objects)
