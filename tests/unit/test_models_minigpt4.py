"""MiniGPT-4's parts: frozen Q-Former by default, BLIP-2 layout, exact BERT initialisation; parameter tables."""

from __future__ import annotations

import pytest
import torch

from tests.tiny_vlm import TINY_QFORMER, tiny_vlm
from tunebench.data.records import Turn
from tunebench.models.batching import pad_batch
from tunebench.models.build import apply_lora
from tunebench.models.config import LoraSpec, VLMConfig
from tunebench.models.qformer import QFormer, QFormerConfig, text_tokenizer

LLM_DIM = VISION_DIM = 32  # tests/tiny.py: llama and CLIP hidden sizes


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    return tmp_path_factory.mktemp("parts")


def rows(model) -> dict[str, dict]:
    return {row["module"]: row for row in model.parameter_table()}


def unique_numel(module) -> int:
    return sum(p.numel() for p in module.parameters())


def training_batch(model) -> dict:
    enc = model.encode([Turn("human", "<image>\nwhat?"), Turn("gpt", "yes")])
    pixels = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    example = {**enc, "frozen_features": model.frozen_features(pixels)[0]}
    return pad_batch([example], model.tokenizer.pad_token_id, side="right")


def test_qformer_is_frozen_by_default_and_only_the_projection_trains(parts):
    model = tiny_vlm(parts, "minigpt4")
    assert VLMConfig().train_qformer is False
    qformer, proj = model.connector.qformer, model.connector.proj
    assert not any(p.requires_grad for p in qformer.parameters())
    assert all(p.requires_grad for p in proj.parameters())
    table = rows(model)
    assert table["connector"]["trainable"] == TINY_QFORMER.hidden_size * LLM_DIM + LLM_DIM
    assert table["connector"]["parameters"] == unique_numel(qformer) + table["connector"]["trainable"]
    assert table["vision_tower"]["trainable"] == 0 and table["llm"]["trainable"] == 0
    model.train()
    assert not qformer.training and not model.tower.training  # frozen parts never run dropout
    model.loss(training_batch(model)).loss.backward()
    assert all(p.grad is None for p in qformer.parameters())
    assert proj.weight.grad is not None and proj.weight.grad.abs().sum() > 0


def test_train_qformer_makes_the_qformer_trainable(parts):
    model = tiny_vlm(parts, "minigpt4", train_qformer=True)
    qformer = model.connector.qformer
    assert all(p.requires_grad for p in qformer.parameters())
    table = rows(model)
    assert table["connector"]["trainable"] == table["connector"]["parameters"] == unique_numel(model.connector)
    model.train()
    assert qformer.training and not model.tower.training
    feat = model.frozen_features(torch.zeros(1, 3, 32, 32))
    assert feat.shape == (1, model.tower.num_tokens, VISION_DIM)  # cache holds raw features: the Q-Former runs
    model.loss(training_batch(model)).loss.backward()
    assert qformer.query_tokens.grad is not None and qformer.query_tokens.grad.abs().sum() > 0


def test_frozen_qformer_features_is_the_query_output(parts):
    model = tiny_vlm(parts, "minigpt4").eval()
    feat = model.frozen_features(torch.zeros(2, 3, 32, 32))
    assert feat.shape == (2, TINY_QFORMER.num_query_tokens, TINY_QFORMER.hidden_size)
    assert model.num_image_tokens == TINY_QFORMER.num_query_tokens


def test_llava_parameter_table(parts):
    model = tiny_vlm(parts, "llava")
    table = rows(model)
    projector = VISION_DIM * LLM_DIM + LLM_DIM + LLM_DIM * LLM_DIM + LLM_DIM
    assert table["connector"] == {"module": "connector", "parameters": projector, "trainable": projector}
    assert table["vision_tower"]["trainable"] == 0
    assert table["vision_tower"]["parameters"] == unique_numel(model.tower.encoder)
    llm_params = table["llm"]["parameters"]
    assert table["llm"]["trainable"] == 0 and llm_params == unique_numel(model.llm)
    embedding = model.llm.get_input_embeddings().weight
    assert model.llm.get_output_embeddings().weight is embedding  # tied: counted once

    apply_lora(model, LoraSpec(r=4, alpha=8, dropout=0.0))
    # Every Linear of the tiny llama (hidden 32, MLP 64, 4 heads of 8, 2 KV heads), 2 layers: r * (in + out).
    per_layer = sum(i + o for i, o in [(32, 32), (32, 16), (32, 16), (32, 32), (32, 64), (32, 64), (64, 32)])
    lora = 4 * per_layer * 2
    table = rows(model)
    assert table["llm"] == {"module": "llm", "parameters": llm_params + lora, "trainable": lora}
    assert table["connector"]["trainable"] == projector and table["vision_tower"]["trainable"] == 0


def test_default_qformer_follows_blip2():
    """32 queries; cross-attention to the image in every 2nd layer (layers 0, 2, 4), from the image width."""
    cfg = QFormerConfig(init_from=None)
    assert cfg.num_query_tokens == 32 and cfg.cross_attention_frequency == 2
    qformer = QFormer(cfg, vision_dim=1280).eval()
    assert qformer.hf_config.cross_attention_frequency == 2 and qformer.hf_config.encoder_hidden_size == 1280
    layers = qformer.qformer.encoder.layer
    assert [layer.has_cross_attention for layer in layers] == [True, False, True, False, True, False]
    for layer in layers[::2]:
        assert layer.crossattention.attention.key.in_features == 1280
    assert all(not hasattr(layer, "crossattention") for layer in layers[1::2])
    assert qformer.query_tokens.shape == (1, 32, 384)
    with torch.no_grad():
        out = qformer(torch.randn(2, 49, 1280))
    assert out.shape == (2, 32, 384)


def test_qformer_text_path_reproduces_minilm_exactly():
    """BLIP-2 initialises the Q-Former from BERT; our weight mapping must make its text path that BERT."""
    from transformers import BertModel

    from tunebench.components.embedder import minilm_folder

    qformer = QFormer(QFormerConfig(), 1280).eval()
    bert = BertModel.from_pretrained(minilm_folder(), attn_implementation="eager").eval()
    tok = text_tokenizer(QFormerConfig())
    enc = tok(["a small red square left of a blue circle", "is it there?"], padding=True, return_tensors="pt")
    with torch.no_grad():
        reference = bert(**enc).last_hidden_state
        cls = qformer.encode_text(enc["input_ids"], enc["attention_mask"])
        tokens = qformer.qformer(query_embeds=qformer.text_embeddings(input_ids=enc["input_ids"]), query_length=0,
                                 attention_mask=enc["attention_mask"]).last_hidden_state
    torch.testing.assert_close(cls, reference[:, 0], atol=1e-4, rtol=0)
    real = enc["attention_mask"].bool()
    torch.testing.assert_close(tokens[real], reference[real], atol=1e-4, rtol=0)
    assert reference.abs().max() > 1.0  # a real encoder, not all zeros


def test_the_connector_says_what_the_cache_export_and_pretraining_need(parts, tmp_path):
    from safetensors.torch import save_model

    from tunebench.core.io import atomic_write_json
    from tunebench.models.qformer import CONFIG_FILE, WEIGHTS_FILE

    llava, minigpt4 = tiny_vlm(parts, "llava"), tiny_vlm(parts, "minigpt4")
    assert llava.connector.frozen_cache_key() is None and llava.connector.exports_to_hf_llava
    assert not minigpt4.connector.exports_to_hf_llava
    key = minigpt4.connector.frozen_cache_key()
    assert key.startswith("qformer-eval:")
    with torch.no_grad():
        next(minigpt4.connector.qformer.parameters()).add_(1.0)
    assert minigpt4.connector.frozen_cache_key() != key  # other frozen weights, other cache entries
    assert tiny_vlm(parts, "minigpt4", train_qformer=True).connector.frozen_cache_key() is None

    torch.manual_seed(5)
    pretrained = QFormer(minigpt4.connector.qformer.cfg, VISION_DIM)
    save_model(pretrained, str(tmp_path / WEIGHTS_FILE))
    atomic_write_json(tmp_path / CONFIG_FILE, {"qformer": {**vars(pretrained.cfg)}})
    minigpt4.connector.load_pretrained(tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(pretrained.state_dict().values(),
                                                 minigpt4.connector.qformer.state_dict().values(), strict=True))
    with pytest.raises(ValueError, match="no separately pretrained part"):
        llava.connector.load_pretrained(tmp_path)
