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


def tiny_eval_vlm(parts_root: Path, arch: str, scale: float = 0.3, seed: int = 0, max_length: int = TINY_MAX_LENGTH):
    """A tiny model whose LLM matrices are redrawn at `scale`: its outputs then depend on every input token
    (a freshly initialised tiny LLM, std 0.02, predicts nearly the same token everywhere)."""
    import dataclasses

    import torch

    from tests.tiny_vlm import tiny_config
    from tunebench.components import load_llm, load_vision_tower
    from tunebench.models.build import build_vlm

    cfg = dataclasses.replace(tiny_config(Path(parts_root), arch), max_length=max_length)
    model = build_vlm(cfg, tower=load_vision_tower(cfg.vision), loaded_llm=load_llm(cfg.llm), seed=seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.llm.parameters():
            if param.dim() == 2:
                param.copy_(torch.randn(param.shape, generator=generator) * scale)
    return model.eval()


def tiny_recipe(parts_root: Path, name: str = "llava-1.5", **overrides: Any):
    """A preset recipe on the tiny parts, with further overrides (dotted keys or nested dicts)."""
    from tunebench.core.config import override
    from tunebench.train.recipes import get_recipe

    return override(override(get_recipe(name), {"model": tiny_model_overrides(parts_root)}), overrides)
