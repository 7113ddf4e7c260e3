"""hf-llava export/import: vanilla transformers reproduces tunebench's logits exactly, and back again."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from transformers import AutoProcessor, LlavaForConditionalGeneration

from tests.tiny import save_tiny_siglip
from tests.tiny_vlm import tiny_config, tiny_parts, tiny_vlm
from tunebench.components import load_llm, load_vision_tower
from tunebench.components.vision import ImagePreprocess, VisionTower
from tunebench.core.errors import UnsafeCheckpointError, UserError
from tunebench.data.records import Turn
from tunebench.models.batching import pad_batch
from tunebench.models.build import apply_lora, build_vlm
from tunebench.models.checkpoint import load_run, save_run
from tunebench.models.config import LoraSpec
from tunebench.models.export import SIDECAR, export_hf_llava, import_hf_llava

PROMPTS = [[Turn("human", "<image>\nwhat is it?")], [Turn("human", "<image>\nhow many red shapes are there?")]]


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    return tmp_path_factory.mktemp("parts")


@pytest.fixture(scope="module")
def llava(parts):
    model = tiny_vlm(parts, "llava").eval()
    sharpen(model.llm, seed=0)
    return model


def sharpen(module: nn.Module, seed: int) -> None:
    """Larger random weights than the default init, so that any wrongly copied tensor moves the logits."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            if param.dim() == 2:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)


def pixels(n: int = len(PROMPTS)) -> torch.Tensor:
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(11))


def batch(model, px: torch.Tensor) -> dict:
    exs = [model.encode(t, for_generation=True) for t in PROMPTS]
    out = pad_batch(exs, model.tokenizer.pad_token_id, side="left")
    out["frozen_features"] = model.frozen_features(px)
    return out


def tunebench_logits(model, px: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.logits(batch(model, px))


def hf_logits(folder, model, px: torch.Tensor) -> torch.Tensor:
    """Vanilla transformers on the same input ids (image tokens expanded), pixels and padding."""
    hf = LlavaForConditionalGeneration.from_pretrained(folder).eval()
    b = batch(model, px)
    with torch.no_grad():
        return hf(input_ids=b["input_ids"], pixel_values=px, attention_mask=b["attention_mask"],
                  position_ids=b["position_ids"]).logits


def assert_same(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.shape == b.shape
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_clip_llava_round_trip(llava, tmp_path):
    out = export_hf_llava(llava, tmp_path / "hf")
    px = pixels()
    expected = tunebench_logits(llava, px)
    assert_same(hf_logits(out, llava, px), expected)
    cfg = LlavaForConditionalGeneration.config_class.from_pretrained(out)
    assert cfg.image_token_id == llava.image_token_id and cfg.vision_feature_layer == -2
    assert cfg.vision_feature_select_strategy == "default" and cfg.text_config.vocab_size == len(llava.tokenizer)
    imported = import_hf_llava(out)
    assert imported.num_image_tokens == llava.num_image_tokens and imported.cfg.template == llava.cfg.template
    assert imported.cfg.max_length == llava.cfg.max_length
    assert_same(tunebench_logits(imported, px), expected)
    assert_same(tunebench_logits(load_run(out), px), expected)  # evaluation entry point accepts the folder
    ours = llava.generate(batch(llava, px), max_new_tokens=5)
    assert imported.generate(batch(imported, px), max_new_tokens=5) == ours
    hf = LlavaForConditionalGeneration.from_pretrained(out).eval()
    b = batch(llava, px)
    theirs = hf.generate(input_ids=b["input_ids"], pixel_values=px, attention_mask=b["attention_mask"],
                         max_new_tokens=5, do_sample=False, suppress_tokens=[llava.image_token_id])
    eos = llava.tokenizer.eos_token_id
    theirs = [row[: row.index(eos)] if eos in row else row for row in theirs[:, b["input_ids"].shape[1]:].tolist()]
    assert theirs == ours and len({tuple(r) for r in ours}) == len(ours)


def test_processor_matches_tunebench_preprocessing(llava, tmp_path):
    out = export_hf_llava(llava, tmp_path / "hf")
    processor = AutoProcessor.from_pretrained(out)
    image = Image.fromarray((np.random.default_rng(0).random((40, 57, 3)) * 255).astype("uint8"))
    inputs = processor(images=[image], text=["<image>\nwhat is it?"], return_tensors="pt")
    torch.testing.assert_close(inputs["pixel_values"], llava.tower.preprocess([image]), atol=1e-5, rtol=0)
    assert int((inputs["input_ids"] == llava.image_token_id).sum()) == llava.num_image_tokens


def test_siglip_llava_round_trip(parts, tmp_path):
    siglip = save_tiny_siglip(tmp_path / "siglip")
    cfg = tiny_config(parts, "llava")
    cfg.vision = str(siglip)
    model = build_vlm(cfg, tower=load_vision_tower(cfg.vision), loaded_llm=load_llm(cfg.llm)).eval()
    sharpen(model.llm, seed=1)
    assert model.num_image_tokens == 16 and not model.tower.drop_cls
    out = export_hf_llava(model, tmp_path / "hf")
    assert LlavaForConditionalGeneration.config_class.from_pretrained(out).vision_feature_select_strategy == "full"
    px = pixels()
    expected = tunebench_logits(model, px)
    assert_same(hf_logits(out, model, px), expected)
    assert_same(tunebench_logits(import_hf_llava(out), px), expected)


def test_lora_run_exports_merged_without_touching_the_run(parts, tmp_path):
    from peft.tuners.lora import LoraLayer

    model = tiny_vlm(parts, "llava").eval()
    apply_lora(model, LoraSpec(r=4, alpha=8, dropout=0.0))
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name, param in model.llm.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator))
    px = pixels()
    expected = tunebench_logits(model, px)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    save_run(model, tmp_path / "run", llm_trained=True)

    for source in (model, tmp_path / "run"):  # in memory, and from the run folder
        out = export_hf_llava(source, tmp_path / "hf", overwrite=True)
        assert_same(hf_logits(out, model, px), expected)
    layers = [layer for layer in model.llm.modules() if isinstance(layer, LoraLayer)]
    assert layers and not any(layer.merged for layer in layers)
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert_same(tunebench_logits(model, px), expected)


class PatchTower(VisionTower):
    """A non-HF tower (like EfficientNet): 8x8 patches of a 32 px image, 16 tokens."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 32, 8, 8)
        self.hidden_size, self.num_tokens, self.name, self.weights_hash = 32, 16, "patches", "none"
        self.preprocess = ImagePreprocess(32, (0.5,) * 3, (0.5,) * 3)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.conv(pixel_values).flatten(2).transpose(1, 2)


def test_export_refuses_what_llava_hf_cannot_hold(parts, tmp_path):
    with pytest.raises(UserError, match="Q-Former"):
        export_hf_llava(tiny_vlm(parts, "minigpt4"), tmp_path / "a")
    cfg = tiny_config(parts, "llava")
    model = build_vlm(cfg, tower=PatchTower().freeze(), loaded_llm=load_llm(cfg.llm))
    with pytest.raises(UserError, match="CLIP or SigLIP"):
        export_hf_llava(model, tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_export_is_atomic(llava, tmp_path, monkeypatch):
    out = tmp_path / "hf"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        export_hf_llava(llava, out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]

    import tunebench.models.export as export

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export, "_save_processor", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        export_hf_llava(llava, out, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["hf"] and [p.name for p in out.iterdir()] == ["keep.txt"]
    monkeypatch.undo()
    export_hf_llava(llava, out, overwrite=True)
    assert not (out / "keep.txt").exists() and (out / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf"]


def test_export_never_replaces_its_own_run(parts, tmp_path):
    run = tmp_path / "run"
    save_run(tiny_vlm(parts, "llava"), run, llm_trained=False)
    for out in (run, tmp_path):
        with pytest.raises(UserError, match="replace the run"):
            export_hf_llava(run, out, overwrite=True)
    assert (run / "connector.safetensors").is_file()
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        export_hf_llava(run, tmp_path / "file", overwrite=True)


def save_vanilla_llava(parts, folder, seed: int = 0):
    """A llava-hf checkpoint written by transformers alone (no tunebench side file, no chat template)."""
    from transformers import AutoConfig, LlavaConfig

    from tests.tiny import tiny_tokenizer

    llm, clip = tiny_parts(parts)
    tok = tiny_tokenizer()
    tok.chat_template = None
    config = LlavaConfig(vision_config=AutoConfig.from_pretrained(clip), text_config=AutoConfig.from_pretrained(llm),
                         image_token_index=tok.convert_tokens_to_ids("<image>"), image_seq_length=16)
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    sharpen(model, seed)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return model


def to_hub_layout(folder) -> None:
    """Rename the weights to the layout of llava-hf checkpoints written by transformers 4.x (as on the Hub)."""
    from safetensors.torch import load_file, save_file

    path = folder / "model.safetensors"
    state = load_file(str(path))
    renamed = {k.replace("vision_tower.", "vision_tower.vision_model.", 1) if k.startswith("vision_tower.") else k: v
               for k, v in state.items()}
    assert renamed != state
    save_file(renamed, str(path), metadata={"format": "pt"})


@pytest.mark.parametrize("layout", ["transformers-5", "hub"])
def test_import_a_vanilla_llava_hf_checkpoint(parts, tmp_path, layout):
    folder = tmp_path / "vanilla"
    hf = save_vanilla_llava(parts, folder).eval()
    if layout == "hub":
        to_hub_layout(folder)
    model = import_hf_llava(folder)
    assert not (folder / SIDECAR).exists()
    assert model.cfg.template == "vicuna_v1" and model.cfg.max_length == 512  # LLaVA-1.5 format; position limit
    px = pixels()
    b = batch(model, px)
    with torch.no_grad():
        expected = hf(input_ids=b["input_ids"], pixel_values=px, attention_mask=b["attention_mask"],
                      position_ids=b["position_ids"]).logits
    assert_same(tunebench_logits(model, px), expected)
    assert not any(p.requires_grad for p in [*model.tower.parameters(), *model.llm.parameters()])


def test_a_run_tuned_from_an_imported_checkpoint_loads_back(parts, tmp_path):
    save_vanilla_llava(parts, tmp_path / "vanilla")
    model = load_run(tmp_path / "vanilla")
    sharpen(model.connector, seed=3)
    model.cfg.max_length = 300  # the run's own setting wins over the checkpoint's on reload
    px = pixels()
    expected = tunebench_logits(model, px)
    save_run(model, tmp_path / "run", llm_trained=False)
    loaded = load_run(tmp_path / "run")
    assert loaded.cfg == model.cfg
    assert_same(tunebench_logits(loaded, px), expected)
    untuned = tunebench_logits(load_run(tmp_path / "vanilla"), px)
    assert (untuned - expected).abs().max() > 1e-3  # the tuned connector came from the run


def test_import_refuses_pickle_unless_allowed(parts, tmp_path):
    from safetensors.torch import load_file

    folder = tmp_path / "pickled"
    save_vanilla_llava(parts, folder)
    state = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(UnsafeCheckpointError, match="pickle"):
        load_run(folder)
    assert import_hf_llava(folder, allow_pickle=True).num_image_tokens == 16


def test_import_refuses_other_folders(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(UserError, match="llava"):
        import_hf_llava(tmp_path)
    with pytest.raises(UserError, match="not a tunebench run"):
        load_run(tmp_path)


def test_cli_export(parts, tmp_path):
    from tunebench.cli import main

    model = tiny_vlm(parts, "llava")
    save_run(model, tmp_path / "run", llm_trained=False)
    main(["export", str(tmp_path / "run"), "--to", "hf-llava", "--out", str(tmp_path / "hf")])
    assert (tmp_path / "hf" / "model.safetensors").is_file() and (tmp_path / "hf" / "processor_config.json").is_file()
    with pytest.raises(SystemExit) as info:
        main(["export", str(tmp_path / "run"), "--to", "onnx", "--out", str(tmp_path / "other")])
    assert info.value.code == 2 and not (tmp_path / "other").exists()
