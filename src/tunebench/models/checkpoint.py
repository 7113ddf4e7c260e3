"""Run directories: a config JSON plus safetensors of the trained modules only (and LoRA adapters).

A run loads without any training code: `load_run(path)` rebuilds the parts by name and copies the
trained weights in. LoRA adapters are saved in PEFT's own format and attached unmerged.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_model, save_model

from tunebench.core.config import build
from tunebench.core.errors import UserError
from tunebench.core.io import atomic_path, atomic_write_json, read_json, sha256_file
from tunebench.models.build import build_vlm
from tunebench.models.config import VLMConfig
from tunebench.models.prompting import apply_template
from tunebench.models.vlm import VisionLanguageModel

CONFIG = "model_config.json"


def _save_tensors(path: Path, module: torch.nn.Module) -> str:
    with atomic_path(path) as tmp:
        save_model(module, str(tmp))  # handles tied weights (embeddings shared with the LM head)
    return sha256_file(path)[:16]


def save_run(model: VisionLanguageModel, run_dir: str | Path, llm_trained: bool) -> dict[str, str]:
    """Write the connector (always), the LLM (when fully trained) and LoRA adapters (when present)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    hashes = {"connector": _save_tensors(run_dir / "connector.safetensors", model.connector)}
    peft = model.peft
    if peft is not None:
        peft.save_pretrained(str(run_dir / "lora"), safe_serialization=True, save_embedding_layers=False)
        hashes["lora"] = sha256_file(run_dir / "lora" / "adapter_model.safetensors")[:16]
    elif llm_trained:
        hashes["llm"] = _save_tensors(run_dir / "llm.safetensors", model.llm)
    atomic_write_json(run_dir / CONFIG, {"model": model.cfg.to_dict(), "weights": hashes,
                                         "base_weights": model.weights_hashes})
    return hashes


def is_run(run_dir: str | Path) -> bool:
    return (Path(run_dir) / CONFIG).is_file()


def load_run(run_dir: str | Path, tower=None, loaded_llm=None, allow_pickle: bool = False) -> VisionLanguageModel:
    """Rebuild a trained model from its run directory (no optimizer or training code involved).

    A llava-hf checkpoint folder (config.json with model_type "llava") is imported instead, so anything
    that evaluates runs also evaluates such checkpoints.
    """
    run_dir = Path(run_dir)
    if not is_run(run_dir):
        from tunebench.models.export import import_hf_llava, is_hf_llava

        if is_hf_llava(run_dir):
            return import_hf_llava(run_dir, allow_pickle=allow_pickle)
        raise UserError(f"not a tunebench run directory (no {CONFIG}) nor a llava-hf checkpoint", where=str(run_dir))
    meta = read_json(run_dir / CONFIG)
    model = _base_model(build(VLMConfig, meta["model"], where=f"{run_dir / CONFIG}: model."), tower, loaded_llm)
    load_model(model.connector, str(run_dir / "connector.safetensors"))
    if (run_dir / "llm.safetensors").is_file():
        load_model(model.llm, str(run_dir / "llm.safetensors"))
    if (run_dir / "lora").is_dir():
        from peft import PeftModel

        model.attach_lora(PeftModel.from_pretrained(model.llm, str(run_dir / "lora")))
    model.record_weights(meta["weights"])
    model.eval()
    return model


def _base_model(cfg: VLMConfig, tower, loaded_llm) -> VisionLanguageModel:
    """The untrained starting point of a run: named parts, or the llava-hf checkpoint it was tuned from."""
    from tunebench.models.export import import_hf_llava, is_hf_llava

    if cfg.arch == "llava" and is_hf_llava(cfg.llm):
        model = import_hf_llava(cfg.llm, allow_pickle=cfg.allow_pickle)
        apply_template(model.tokenizer, cfg.template)
        model.cfg = cfg
        return model
    return build_vlm(cfg, tower=tower, loaded_llm=loaded_llm)
