"""Assemble a VisionLanguageModel from named or local parts; everything frozen but the connector."""

from __future__ import annotations

import copy

import torch
from torch import nn

from tunebench.components import load_llm, load_vision_tower
from tunebench.models.config import LoraSpec, VLMConfig
from tunebench.models.prompting import apply_template
from tunebench.models.vlm import VisionLanguageModel, build_connector


def build_vlm(cfg: VLMConfig, tower: nn.Module | None = None, loaded_llm=None,
              seed: int = 0) -> VisionLanguageModel:
    """Both designs get the same tower and LLM; only the connector differs (seeded initialisation).

    The model keeps its own copy of `cfg`: later changes to the model (e.g. a stage's template) never leak
    back into the caller's recipe."""
    cfg = copy.deepcopy(cfg)
    tower = tower if tower is not None else load_vision_tower(cfg.vision, allow_pickle=cfg.allow_pickle)
    loaded_llm = loaded_llm if loaded_llm is not None else load_llm(cfg.llm, allow_pickle=cfg.allow_pickle)
    apply_template(loaded_llm.tokenizer, cfg.template)
    llm_dim = loaded_llm.model.get_input_embeddings().weight.shape[1]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        connector = build_connector(cfg, tower.hidden_size, llm_dim)
    model = VisionLanguageModel(cfg, tower, loaded_llm.model, loaded_llm.tokenizer, connector,
                                weights_hashes={"vision": tower.weights_hash, "llm": loaded_llm.weights_hash})
    model.tower.requires_grad_(False)
    model.llm.requires_grad_(False)
    return model


def lora_target_modules(llm: nn.Module) -> list[str]:
    """Every nn.Linear of the LLM except the LM head (LLaVA-1.5's LoRA recipe)."""
    names = {name.split(".")[-1] for name, mod in llm.named_modules() if isinstance(mod, nn.Linear)}
    names.discard("lm_head")
    return sorted(names)


def apply_lora(model: VisionLanguageModel, cfg: LoraSpec) -> None:
    """Inject LoRA adapters into the LLM in place; `model.llm` stays the plain causal LM object."""
    from peft import LoraConfig, get_peft_model

    peft_cfg = LoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                              target_modules=lora_target_modules(model.llm), task_type="CAUSAL_LM")
    model.attach_lora(get_peft_model(model.llm, peft_cfg))
