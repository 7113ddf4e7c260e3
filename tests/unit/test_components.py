"""Component registry, cache integrity, checkpoint safety and HF vision towers on tiny random models."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from PIL import Image

from tests.tiny import save_tiny_clip, save_tiny_llama, save_tiny_siglip
from tunebench.components import load_llm, load_vision_tower
from tunebench.components.cache import cached_entry, is_valid_entry
from tunebench.core.errors import UnsafeCheckpointError, UserError


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _writer(calls: list):
    def build(folder):
        calls.append(folder)
        (folder / "weights.bin").write_bytes(b"x" * 1000)

    return build


def test_cache_hit_after_build(cache_dir):
    calls: list = []
    folder, hit = cached_entry("entry", _writer(calls))
    assert not hit and len(calls) == 1 and is_valid_entry(folder)
    folder2, hit2 = cached_entry("entry", _writer(calls))
    assert hit2 and folder2 == folder and len(calls) == 1


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete_manifest", "delete_file"])
def test_damaged_cache_entry_is_rebuilt_not_loaded(cache_dir, damage):
    calls: list = []
    folder, _ = cached_entry("entry", _writer(calls))
    target = folder / "weights.bin"
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:500])
    elif damage == "flip":
        target.write_bytes(b"y" + target.read_bytes()[1:])
    elif damage == "delete_manifest":
        (folder / "manifest.json").unlink()
    else:
        target.unlink()
    assert not is_valid_entry(folder)
    folder, hit = cached_entry("entry", _writer(calls))
    assert not hit and len(calls) == 2
    assert (folder / "weights.bin").read_bytes() == b"x" * 1000


def test_failed_build_leaves_no_entry(cache_dir):
    def broken(folder):
        (folder / "half").write_bytes(b"partial")
        raise RuntimeError("killed mid-build")

    with pytest.raises(RuntimeError):
        cached_entry("entry", broken)
    assert not (cache_dir / "entry").exists()
    assert not list(cache_dir.glob(".entry.*"))


_RACER = """
import sys, time
from pathlib import Path
from tunebench.components.cache import cached_entry

def build(folder):
    with open(sys.argv[1], "a") as log:
        log.write("built\\n")
    time.sleep(2)
    (folder / "weights.bin").write_bytes(b"x" * 1000)

folder, _ = cached_entry("entry", build)
assert (folder / "weights.bin").read_bytes() == b"x" * 1000
"""


def test_processes_that_miss_together_build_once_and_all_load(cache_dir, tmp_path):
    log = tmp_path / "builds.log"
    racers = [subprocess.Popen([sys.executable, "-c", _RACER, str(log)], stderr=subprocess.PIPE, text=True)
              for _ in range(3)]
    errors = [p.communicate()[1] for p in racers]
    assert [p.returncode for p in racers] == [0, 0, 0], errors
    assert log.read_text().splitlines() == ["built"]
    assert is_valid_entry(cache_dir / "entry")


def test_llm_by_local_path(tmp_path):
    folder = save_tiny_llama(tmp_path / "llm")
    loaded = load_llm(str(folder))
    assert loaded.tokenizer.padding_side == "left"
    assert loaded.tokenizer.pad_token is not None
    assert len(loaded.weights_hash) == 16
    logits = loaded.model(torch.tensor([[1, 2, 3]])).logits
    assert logits.shape == (1, 3, len(loaded.tokenizer))


def test_pickle_checkpoint_refused_without_flag(tmp_path):
    folder = save_tiny_llama(tmp_path / "llm", safe=False)
    assert list(folder.glob("*.bin")) and not list(folder.glob("*.safetensors"))
    with pytest.raises(UnsafeCheckpointError, match="--allow-pickle"):
        load_llm(str(folder))
    loaded = load_llm(str(folder), allow_pickle=True)
    assert loaded.weights_hash == "pickle"


def test_unknown_component_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="unknown llm"):
        load_llm(str(tmp_path / "missing"))
    with pytest.raises(UserError, match="is a vision, not a llm"):
        load_llm("efficientnet-lite0")


def test_clip_tower_uses_layer_minus_two_without_cls(tmp_path):
    folder = save_tiny_clip(tmp_path / "clip")
    tower = load_vision_tower(str(folder))
    assert tower.num_tokens == 16 and tower.hidden_size == 32
    pixels = tower.preprocess([Image.new("RGB", (50, 40), "red"), Image.new("RGB", (20, 20), "blue")])
    assert pixels.shape == (2, 3, 32, 32)
    feats = tower(pixels)
    expected = tower.encoder(pixel_values=pixels, output_hidden_states=True).hidden_states[-2][:, 1:]
    assert feats.shape == (2, 16, 32)
    torch.testing.assert_close(feats, expected)
    assert not any(p.requires_grad for p in tower.parameters())


def test_siglip_tower_keeps_every_patch(tmp_path):
    tower = load_vision_tower(str(save_tiny_siglip(tmp_path / "siglip")))
    feats = tower(tower.preprocess([Image.new("RGB", (32, 32), "green")]))
    assert feats.shape == (1, 16, 32)


def test_frozen_tower_stays_in_eval_mode(tmp_path):
    tower = load_vision_tower(str(save_tiny_clip(tmp_path / "clip")))
    parent = torch.nn.ModuleDict({"tower": tower})
    parent.train()
    assert not tower.training


def test_cli_user_error_is_one_line_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "tunebench.cli", "chat", "hi", "--llm", str(tmp_path / "nope")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "unknown llm" in proc.stderr
