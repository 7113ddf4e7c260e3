"""Pretrained parts by name. A name not in the registry is taken as a local path of the same kind."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tunebench.core.errors import UserError

Kind = Literal["llm", "vision", "embedder"]


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    kind: Kind
    description: str
    loader: Callable[..., Any]


def _smollm2(**kw: Any):
    from tunebench.components.llm import load_smollm2

    return load_smollm2(**kw)


def _efficientnet(feature_layer: int, early_block: int | None = None):
    def load(**kw: Any):
        from tunebench.components.vision import load_efficientnet_lite0

        return load_efficientnet_lite0(feature_layer=feature_layer, early_block=early_block, **kw)

    return load


def _minilm(**kw: Any):
    from tunebench.components.embedder import load_sentence_embedder

    return load_sentence_embedder(**kw)


REGISTRY: dict[str, ComponentSpec] = {
    spec.name: spec
    for spec in (
        ComponentSpec("smollm2-135m-instruct", "llm", "SmolLM2-135M-Instruct (GGUF Q4_1, de-quantized)", _smollm2),
        ComponentSpec("efficientnet-lite0", "vision", "EfficientNet-Lite0, ImageNet, last block: 49 tokens x 320",
                      _efficientnet(-2)),
        ComponentSpec("efficientnet-lite0-block4", "vision",
                      "EfficientNet-Lite0, ImageNet, last block + block 4 averaged onto its cells: 49 tokens x 360",
                      _efficientnet(-2, early_block=4)),
        ComponentSpec("efficientnet-lite0-head", "vision", "EfficientNet-Lite0, ImageNet, head: 49 tokens x 1280",
                      _efficientnet(-1)),
        ComponentSpec("all-minilm-l6-v2", "embedder", "all-MiniLM-L6-v2 sentence embedder, 384 dims", _minilm),
    )
}


def register(spec: ComponentSpec) -> None:
    """Add a user's own named part (e.g. from a plugin) to the registry."""
    REGISTRY[spec.name] = spec


def _by_path(kind: Kind, path: Path, **kw: Any):
    if kind == "llm":
        from tunebench.components.llm import load_hf_causal_lm

        return load_hf_causal_lm(path, **kw)
    if kind == "vision":
        from tunebench.components.vision import load_hf_vision_tower

        return load_hf_vision_tower(path, **kw)
    from tunebench.components.embedder import load_sentence_embedder

    return load_sentence_embedder(path, **kw)


def load(kind: Kind, name_or_path: str, **kw: Any):
    """Load a part of `kind` by registry name, or from a local folder."""
    spec = REGISTRY.get(name_or_path)
    if spec is not None:
        if spec.kind != kind:
            raise UserError(f"'{name_or_path}' is a {spec.kind}, not a {kind}")
        return spec.loader(**kw)
    path = Path(name_or_path).expanduser()
    if not path.exists():
        known = ", ".join(n for n, s in REGISTRY.items() if s.kind == kind)
        raise UserError(f"unknown {kind} '{name_or_path}': not a registered name ({known}) nor a local folder")
    return _by_path(kind, path, **kw)


def load_llm(name_or_path: str = "smollm2-135m-instruct", **kw: Any):
    return load("llm", name_or_path, **kw)


def load_vision_tower(name_or_path: str = "efficientnet-lite0", **kw: Any):
    return load("vision", name_or_path, **kw)


def load_embedder(name_or_path: str = "all-minilm-l6-v2", **kw: Any):
    return load("embedder", name_or_path, **kw)
