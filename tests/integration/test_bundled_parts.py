"""The real bundled parts: proofs that weights and preprocessing are right, and the cache is robust."""

from __future__ import annotations

import time

import pytest
import torch
from PIL import Image

pytestmark = pytest.mark.integration


def test_efficientnet_classifies_chelsea_as_a_cat(efficientnet):
    from skimage import data

    pixels = efficientnet.preprocess([Image.fromarray(data.chelsea())])
    with torch.inference_mode():
        top1 = int(efficientnet.classify(pixels).argmax())
        grid = efficientnet(pixels)
    assert 281 <= top1 <= 285, top1
    assert grid.shape == (1, 49, 320)


def test_efficientnet_default_layer_is_what_feeds_the_head(efficientnet):
    """Layer -2 (default) is the last block's output: the head's 1x1 conv applied to it gives layer -1."""
    from tunebench.components import load_vision_tower

    head = load_vision_tower("efficientnet-lite0-head")
    assert (head.hidden_size, efficientnet.hidden_size) == (1280, 320)
    assert head.weights_hash != efficientnet.weights_hash  # the feature cache keeps the two apart
    pixels = torch.randn(2, 3, 224, 224)
    net = efficientnet.net
    with torch.inference_mode():
        block = efficientnet(pixels).transpose(1, 2).reshape(2, 320, 7, 7)
        via_head = net._swish(net._bn1(net._conv_head(block))).flatten(2).transpose(1, 2)
        torch.testing.assert_close(via_head, head(pixels))


def test_efficientnet_block4_variant_adds_an_early_level_to_each_cell(efficientnet):
    """`efficientnet-lite0-block4`: the last block's 320 dims unchanged, then block 4 averaged onto each cell."""
    import torch.nn.functional as F

    from tunebench.components import load_vision_tower

    multi = load_vision_tower("efficientnet-lite0-block4")
    assert multi.hidden_size == 360 and multi.weights_hash != efficientnet.weights_hash
    pixels = torch.randn(2, 3, 224, 224)
    net = efficientnet.net
    with torch.inference_mode():
        grid = net._swish(net._bn0(net._conv_stem(pixels)))
        for block in net._blocks[:5]:
            grid = block(grid)
        early = F.adaptive_avg_pool2d(grid, 7).flatten(2).transpose(1, 2)
        features = multi(pixels)
        torch.testing.assert_close(features[..., :320], efficientnet(pixels))
        torch.testing.assert_close(features[..., 320:], early)


def test_smollm2_answers_paris(smollm2):
    tok = smollm2.tokenizer
    inputs = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                     add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        out = smollm2.model.generate(**inputs, max_new_tokens=20, do_sample=False, pad_token_id=tok.pad_token_id)
    assert "Paris" in tok.decode(out[0, inputs["input_ids"].shape[1]:])


def test_truncated_llm_cache_is_rebuilt_and_hit_is_faster(tmp_path, monkeypatch):
    from tunebench.components.llm import load_smollm2

    monkeypatch.setenv("TUNEBENCH_CACHE", str(tmp_path))
    start = time.perf_counter()
    first = load_smollm2()
    miss_s = time.perf_counter() - start
    start = time.perf_counter()
    second = load_smollm2()
    hit_s = time.perf_counter() - start
    print(f"SmolLM2 load: miss {miss_s:.2f}s, hit {hit_s:.2f}s ({miss_s / hit_s:.1f}x)")
    assert first.cache_hit is False and second.cache_hit is True
    ids = torch.tensor([[1, 4093, 198, 1780]])
    with torch.inference_mode():
        reference = first.model(ids).logits
    del first, second  # their tensors may be memory-mapped from the file we are about to damage
    weights = next(tmp_path.glob("smollm2*/model.safetensors"))
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    third = load_smollm2()
    assert third.cache_hit is False
    with torch.inference_mode():
        torch.testing.assert_close(third.model(ids).logits, reference)
