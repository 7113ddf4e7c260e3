"""Pretrained parts by name (bundled in registry packages) or by local path.

    from tunebench.components import load_llm, load_vision_tower, load_embedder
"""

from tunebench.components.registry import (
    REGISTRY,
    ComponentSpec,
    load,
    load_embedder,
    load_llm,
    load_vision_tower,
    register,
)

__all__ = ["REGISTRY", "ComponentSpec", "load", "load_embedder", "load_llm", "load_vision_tower", "register"]
