"""Scene graphs of the Shapes world: objects with attributes and boxes, sampled without overlap."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from tunebench.data.shapes.vocab import (
    COLORS,
    FAMILY_PROBABILITY,
    SHAPE_FAMILIES,
    SHAPES,
    SIZE_RANGE_224,
    SIZES,
)

MAX_OBJECTS = 6
GAP_224 = 6  # free pixels kept between two boxes and to the border, at 224 px
# A relation or absolute position is only asked about when it is clear by this margin (at 224 px).
RELATION_MARGIN_224 = 24
THIRD_MARGIN_224 = 8


@dataclass(frozen=True)
class Obj:
    """One object; `box` is (x0, y0, x1, y1) in pixels, x1/y1 exclusive."""

    shape: str
    color: str
    size: str
    box: tuple[int, int, int, int]

    @property
    def cx(self) -> float:
        return (self.box[0] + self.box[2]) / 2

    @property
    def cy(self) -> float:
        return (self.box[1] + self.box[3]) / 2

    def attr(self, name: str) -> str:
        return getattr(self, name)

    def to_json(self, index: int) -> dict[str, Any]:
        return {"id": index, "shape": self.shape, "color": self.color, "size": self.size,
                "bbox": list(self.box)}


@dataclass(frozen=True)
class Scene:
    image_id: int
    split: str
    file: str
    size: int
    objects: tuple[Obj, ...]

    @property
    def scale(self) -> float:
        return self.size / 224

    def to_json(self) -> dict[str, Any]:
        return {
            "image_id": self.image_id,
            "split": self.split,
            "file": self.file,
            "width": self.size,
            "height": self.size,
            "objects": [obj.to_json(i) for i, obj in enumerate(self.objects)],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scene:
        objects = tuple(Obj(o["shape"], o["color"], o["size"], tuple(o["bbox"])) for o in data["objects"])
        return cls(data["image_id"], data["split"], data["file"], data["width"], objects)


def image_file_name(split: str, image_id: int) -> str:
    """COCO-style names (COCO_<subset>_<12-digit id>) so the VQA-v2 naming rule finds them."""
    return f"COCO_shapes{split}_{image_id:012d}.png"


def _sample_shape(rng: random.Random, family: dict[str, float]) -> str:
    if rng.random() < FAMILY_PROBABILITY:
        return rng.choices(list(family), weights=list(family.values()))[0]
    return rng.choice(SHAPES)


def _place(rng: random.Random, side: int, taken: list[tuple[int, int, int, int]], size: int,
           gap: int) -> tuple[int, int, int, int] | None:
    for _ in range(200):
        x0 = rng.randint(gap, size - gap - side)
        y0 = rng.randint(gap, size - gap - side)
        box = (x0, y0, x0 + side, y0 + side)
        if all(box[0] >= t[2] + gap or t[0] >= box[2] + gap or box[1] >= t[3] + gap or t[1] >= box[3] + gap
               for t in taken):
            return box
    return None


def sample_scene(rng: random.Random, image_id: int, split: str, size: int, max_objects: int = MAX_OBJECTS) -> Scene:
    """1 to `max_objects` objects; if they do not fit without overlap the whole scene is drawn again."""
    scale = size / 224
    gap = max(1, round(GAP_224 * scale))
    while True:
        family = rng.choice(SHAPE_FAMILIES)
        count = rng.randint(1, max_objects)
        objects: list[Obj] = []
        for _ in range(count):
            size_name = rng.choice(SIZES)
            low, high = SIZE_RANGE_224[size_name]
            side = max(4, round(rng.randint(low, high) * scale))
            box = _place(rng, side, [o.box for o in objects], size, gap)
            if box is None:
                break
            objects.append(Obj(_sample_shape(rng, family), rng.choice(list(COLORS)), size_name, box))
        if len(objects) == count:
            objects.sort(key=lambda o: (o.box[0], o.box[1]))
            return Scene(image_id, split, image_file_name(split, image_id), size, tuple(objects))


def sample_scenes(seed: int, split: str, count: int, size: int, max_objects: int = MAX_OBJECTS) -> list[Scene]:
    """Each split has its own random stream, so the test scenes do not depend on the train count."""
    if not 1 <= max_objects <= MAX_OBJECTS:
        raise ValueError(f"max_objects must be between 1 and {MAX_OBJECTS}, got {max_objects}")
    rng = random.Random(f"shapes:{seed}:{split}:scenes")
    return [sample_scene(rng, i + 1, split, size, max_objects) for i in range(count)]


def horizontal(obj: Obj, scene: Scene) -> str | None:
    """'left' / 'center' / 'right' third of the image, None when too close to a border line."""
    return _third(obj.cx, scene, ("left", "center", "right"))


def vertical(obj: Obj, scene: Scene) -> str | None:
    return _third(obj.cy, scene, ("top", "middle", "bottom"))


def _third(value: float, scene: Scene, names: tuple[str, str, str]) -> str | None:
    margin = THIRD_MARGIN_224 * scene.scale
    for k in (1, 2):
        if abs(value - k * scene.size / 3) < margin:
            return None
    return names[min(2, int(value * 3 // scene.size))]


def relation(a: Obj, b: Obj, scene: Scene, axis: str) -> str | None:
    """Where `a` is relative to `b` along an axis ('left'/'right' or 'above'/'below'), if clear."""
    margin = RELATION_MARGIN_224 * scene.scale
    delta = (a.cx - b.cx) if axis == "x" else (a.cy - b.cy)
    if abs(delta) < margin:
        return None
    if axis == "x":
        return "left" if delta < 0 else "right"
    return "above" if delta < 0 else "below"
