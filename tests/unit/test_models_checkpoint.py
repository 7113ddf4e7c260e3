"""save_run/load_run round trips: what was trained comes back exactly, without any training code."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from tests.tiny_vlm import tiny_vlm
from tunebench.core.errors import UserError
from tunebench.data.records import Turn
from tunebench.models.batching import pad_batch
from tunebench.models.build import apply_lora
from tunebench.models.checkpoint import CONFIG, load_run, save_run
from tunebench.models.config import LoraSpec

PROMPTS = [[Turn("human", "<image>\nwhat is it?")], [Turn("human", "<image>\nhow many shapes are there?")]]


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    return tmp_path_factory.mktemp("parts")


def batch(model) -> dict:
    exs = [model.encode(t, for_generation=True) for t in PROMPTS]
    feats = model.frozen_features(torch.randn(len(exs), 3, 32, 32, generator=torch.Generator().manual_seed(5)))
    examples = [{**e, "frozen_features": s} for e, s in zip(exs, feats, strict=True)]
    return pad_batch(examples, model.tokenizer.pad_token_id)


def logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model.eval().logits(batch(model))


def perturb(module: torch.nn.Module, seed: int, only_trainable: bool = True) -> None:
    """Stand-in for training: move the weights so a load that silently skipped them would be noticed."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            if param.requires_grad or not only_trainable:
                param.add_(torch.randn(param.shape, generator=generator) * 0.1)


def assert_same(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def assert_differs(a: torch.Tensor, b: torch.Tensor) -> None:
    assert (a - b).abs().max() > 1e-3


@pytest.mark.parametrize("arch", ["llava", "minigpt4"])
def test_connector_only_round_trip(parts, tmp_path, arch):
    model = tiny_vlm(parts, arch)
    base = logits(model)
    perturb(model.connector, seed=1)
    trained = logits(model)
    assert_differs(trained, base)
    hashes = save_run(model, tmp_path / "run", llm_trained=False)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["connector.safetensors", CONFIG]
    assert set(hashes) == {"connector"}
    loaded = load_run(tmp_path / "run")
    assert_same(logits(loaded), trained)
    assert loaded.cfg == model.cfg and not loaded.training
    assert loaded.weights_hashes["connector"] == hashes["connector"]


def test_minigpt4_run_stores_only_the_trainable_projection(parts, tmp_path):
    model = tiny_vlm(parts, "minigpt4")
    save_run(model, tmp_path / "run", llm_trained=False)
    saved = load_file(str(tmp_path / "run" / "connector.safetensors"))
    assert {"proj.weight", "proj.bias"} <= set(saved)
    torch.testing.assert_close(saved["proj.weight"], model.connector.proj.weight)


def test_full_llm_round_trip(parts, tmp_path):
    model = tiny_vlm(parts, "llava")
    model.llm.requires_grad_(True)
    perturb(model.connector, seed=2)
    perturb(model.llm, seed=3)
    trained = logits(model)
    hashes = save_run(model, tmp_path / "run", llm_trained=True)
    assert set(hashes) == {"connector", "llm"} and (tmp_path / "run" / "llm.safetensors").is_file()
    loaded = load_run(tmp_path / "run")
    assert_same(logits(loaded), trained)
    assert_differs(logits(tiny_vlm(parts, "llava")), trained)  # the LLM weights really came from the run


def test_lora_round_trip_in_peft_format_unmerged(parts, tmp_path):
    from peft.tuners.lora import LoraLayer

    model = tiny_vlm(parts, "llava")
    apply_lora(model, LoraSpec(r=4, alpha=8, dropout=0.0))
    perturb(model.connector, seed=4)
    perturb(model.peft, seed=5)  # only the adapters are trainable inside the PEFT model
    trained = logits(model)
    assert_differs(trained, logits(tiny_vlm(parts, "llava")))
    hashes = save_run(model, tmp_path / "run", llm_trained=True)
    run = tmp_path / "run"
    assert set(hashes) == {"connector", "lora"} and not (run / "llm.safetensors").exists()
    adapter_config = json.loads((run / "lora" / "adapter_config.json").read_text())
    assert adapter_config["peft_type"] == "LORA" and adapter_config["r"] == 4
    keys = set(load_file(str(run / "lora" / "adapter_model.safetensors")))
    assert keys and all(".lora_A." in k or ".lora_B." in k for k in keys)
    assert "lm_head" not in " ".join(keys)

    loaded = load_run(run)
    layers = [m for m in loaded.llm.modules() if isinstance(m, LoraLayer)]
    assert layers and not any(layer.merged for layer in layers)
    assert_same(logits(loaded), trained)


def test_load_run_refuses_a_folder_that_is_no_run(tmp_path):
    with pytest.raises(UserError, match="not a tunebench run"):
        load_run(tmp_path)


def test_load_run_needs_no_training_code(parts, tmp_path):
    model = tiny_vlm(parts, "llava")
    save_run(model, tmp_path / "run", llm_trained=False)
    script = (
        "import sys\n"
        "from tunebench.models.checkpoint import load_run\n"
        f"model = load_run({str(tmp_path / 'run')!r})\n"
        "assert model.num_image_tokens == 16\n"
        "print(sorted(m for m in sys.modules if m.startswith('tunebench.train')))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
