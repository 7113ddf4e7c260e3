"""Tiny random vision-language models of both designs, for unit tests that run in seconds."""

from __future__ import annotations

from pathlib import Path

from tests.tiny import save_tiny_clip, save_tiny_llama
from tunebench.components import load_llm, load_vision_tower
from tunebench.models.build import build_vlm
from tunebench.models.config import VLMConfig
from tunebench.models.qformer import QFormerConfig

TINY_QFORMER = QFormerConfig(num_query_tokens=4, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64,
                             embed_dim=16, init_from=None, vocab_size=128)


def tiny_parts(root: Path) -> tuple[Path, Path]:
    llm, clip = root / "llm", root / "clip"
    if not llm.exists():
        save_tiny_llama(llm)
        save_tiny_clip(clip)
    return llm, clip


def tiny_config(root: Path, arch: str, **overrides) -> VLMConfig:
    llm, clip = tiny_parts(root)
    return VLMConfig(arch=arch, vision=str(clip), llm=str(llm), qformer=TINY_QFORMER, max_length=128, **overrides)


def tiny_vlm(root: Path, arch: str, seed: int = 0, **overrides):
    cfg = tiny_config(root, arch, **overrides)
    return build_vlm(cfg, tower=load_vision_tower(cfg.vision), loaded_llm=load_llm(cfg.llm), seed=seed)
