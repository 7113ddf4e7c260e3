"""Typed model configuration, loadable from YAML/JSON and recorded with every run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from tunebench.core.config import STRICT
from tunebench.models.qformer import QFormerConfig

Arch = Literal["llava", "minigpt4"]


@dataclass
class LoraSpec:
    """A stage's LoRA settings (turned into peft's own LoraConfig when the adapters are attached)."""

    __pydantic_config__ = STRICT
    r: int = 128
    alpha: int = 256
    dropout: float = 0.05


@dataclass
class VLMConfig:
    __pydantic_config__ = STRICT
    arch: Arch = "llava"
    vision: str = "efficientnet-lite0"  # registry name or local CLIP/SigLIP folder
    llm: str = "smollm2-135m-instruct"  # registry name or local Hugging Face causal LM folder
    template: str = "chat"  # the tokenizer's own chat template, or vicuna_v1 / minigpt4 / plain
    max_length: int = 384
    qformer: QFormerConfig = field(default_factory=QFormerConfig)
    train_qformer: bool = False  # InstructBLIP-style ablation; MiniGPT-4 keeps it frozen
    pixel_shuffle: int = 1  # LLaVA: merge each k x k block of grid cells into one image token (1 = LLaVA-1.5)
    question_first: bool = False  # the question before the image in its turn (image tokens see the question)
    allow_pickle: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
