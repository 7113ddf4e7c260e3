"""Drawing scenes: flat-coloured shapes on an optionally textured dark background.

Shapes are drawn at twice the size and reduced by box filtering, which gives smooth edges with
fixed, deterministic arithmetic. The texture comes from a numpy Generator seeded by (seed, split,
image id), so each image is reproducible on its own, whichever worker draws it.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from tunebench.data.shapes.vocab import BACKGROUND, COLORS
from tunebench.data.shapes.world import Obj, Scene

SUPERSAMPLE = 2
PNG_COMPRESS_LEVEL = 1
JPEG_QUALITY = 95


def _polygon(shape: str, box: tuple[float, float, float, float]) -> list[tuple[float, float]]:
    x0, y0, x1, y1 = box
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
    if shape == "square":
        inset = r * 0.1
        return [(x0 + inset, y0 + inset), (x1 - inset, y0 + inset), (x1 - inset, y1 - inset),
                (x0 + inset, y1 - inset)]
    if shape == "triangle":
        return [(cx, y0), (x1, y1), (x0, y1)]
    if shape == "diamond":
        return [(cx, y0), (cx + r * 0.75, cy), (cx, y1), (cx - r * 0.75, cy)]
    if shape == "hexagon":
        return [(cx + r * math.cos(math.pi / 3 * k), cy + r * math.sin(math.pi / 3 * k)) for k in range(6)]
    if shape == "star":
        points = []
        for k in range(10):
            radius = r if k % 2 == 0 else r * 0.5
            angle = -math.pi / 2 + k * math.pi / 5
            points.append((cx + radius * math.cos(angle), cy + r * 0.1 + radius * math.sin(angle)))
        return points
    raise ValueError(f"unknown shape {shape!r}")


def _draw_object(draw: ImageDraw.ImageDraw, obj: Obj) -> None:
    box = tuple(v * SUPERSAMPLE for v in obj.box)
    fill = COLORS[obj.color]
    if obj.shape == "circle":
        draw.ellipse(box, fill=fill)
    else:
        draw.polygon(_polygon(obj.shape, box), fill=fill)


def _background(size: int, texture: bool, rng: np.random.Generator) -> Image.Image:
    base = np.broadcast_to(np.array(BACKGROUND, dtype=np.float32), (size, size, 3))
    if not texture:
        return Image.fromarray(base.astype(np.uint8), "RGB")
    coarse = rng.normal(0.0, 1.0, size=(6, 6)).astype(np.float32)
    lo = Image.fromarray(((coarse + 3) * 40).clip(0, 255).astype(np.uint8), "L").resize(
        (size, size), Image.Resampling.BICUBIC)
    blotches = (np.asarray(lo, dtype=np.float32) / 40 - 3) * 9
    grain = rng.normal(0.0, 5.0, size=(size, size, 1)).astype(np.float32)
    pixels = base + blotches[..., None] + grain
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")


def render(scene: Scene, texture: bool, seed: int) -> Image.Image:
    """The scene as an RGB image of scene.size x scene.size pixels."""
    split_code = sum(scene.split.encode())
    rng = np.random.default_rng([seed, split_code, scene.image_id])
    big = _background(scene.size, texture, rng).resize(
        (scene.size * SUPERSAMPLE,) * 2, Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(big)
    for obj in scene.objects:
        _draw_object(draw, obj)
    return big.reduce(SUPERSAMPLE)


def encode_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL, optimize=False)
    return buffer.getvalue()


def encode_jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=0, optimize=False)
    return buffer.getvalue()


@dataclass(frozen=True)
class RenderJob:
    """Render one scene; write it as PNG to each of `png_paths` and as JPEG to each of `jpeg_paths`."""

    scene: Scene
    texture: bool
    seed: int
    png_paths: tuple[Path, ...]
    jpeg_paths: tuple[Path, ...] = ()


def run_job(job: RenderJob) -> int:
    image = render(job.scene, job.texture, job.seed)
    png = encode_png(image)
    for path in job.png_paths:
        path.write_bytes(png)
    if job.jpeg_paths:
        jpeg = encode_jpeg(image)
        for path in job.jpeg_paths:
            path.write_bytes(jpeg)
    return job.scene.image_id
