"""A tiny Shapes world and tiny-model recipe configs, so CLI runs finish in seconds."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from tests.tiny_vlm import TINY_QFORMER, tiny_parts
from tunebench.data.shapes.generate import ShapesConfig, generate

TINY_MAX_LENGTH = 256  # the tiny tokenizer is character level


def make_world(out: Path, train: int = 8, test: int = 4, seed: int = 0) -> Path:
    """Render a small Shapes world (64 px images) into `out`; returns `out`."""
    generate(ShapesConfig(Path(out), seed=seed, train=train, test=test, image_size=64, workers=1))
    return Path(out)


def tiny_model_overrides(parts_root: Path) -> dict[str, Any]:
    """The `model` overrides that swap a recipe's real parts for the tiny random ones."""
    llm, clip = tiny_parts(Path(parts_root))
    return {"vision": str(clip), "llm": str(llm), "max_length": TINY_MAX_LENGTH, "qformer": asdict(TINY_QFORMER)}


def tiny_recipe_config(path: Path, parts_root: Path, stage_optim: dict[str, dict[str, Any]] | None = None,
                       **top: Any) -> Path:
    """Write a YAML recipe override (tiny parts, per-stage optimizer fields, other top-level fields)."""
    cfg: dict[str, Any] = {"model": tiny_model_overrides(parts_root), **top}
    for stage, optim in (stage_optim or {}).items():
        cfg[stage] = {"optim": optim}
    Path(path).write_text(yaml.safe_dump(cfg, sort_keys=False))
    return Path(path)
