"""Move LLaVA models between tunebench and the llava-hf layout of `transformers.LlavaForConditionalGeneration`.

Export lets any tool that loads llava-hf checkpoints (evaluation harnesses, serving stacks) run a tunebench
run unchanged; import lets tunebench evaluate such a checkpoint. Both are exact: the parts are the same
modules (HF CLIP/SigLIP tower, Linear-GELU-Linear projector, HF causal LM), so weights are plain copies.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn

from tunebench.components.vision import HFVisionTower
from tunebench.core.errors import UserError
from tunebench.core.io import atomic_write_json, read_json, sha256_tree
from tunebench.data.records import IMAGE_TOKEN
from tunebench.models.connectors import MlpProjector
from tunebench.models.vlm import VisionLanguageModel

TOWER_TYPES = ("clip_vision_model", "siglip_vision_model")
SIDECAR = "tunebench_export.json"  # what the llava-hf config cannot hold: template name and max length


def _exportable(model: VisionLanguageModel) -> HFVisionTower:
    """The tower, after refusing any model whose parts have no llava-hf equivalent."""
    if not model.connector.exports_to_hf_llava:
        raise UserError(f"only LLaVA models export to hf-llava; this run is '{model.cfg.arch}' "
                        "(the MiniGPT-4 Q-Former has no llava-hf equivalent)")
    if model.connector.shuffle != 1:
        raise UserError(f"hf-llava export needs pixel_shuffle 1 (llava-hf has no pixel shuffle); this run uses "
                        f"{model.connector.shuffle}")
    tower = model.tower
    if not isinstance(tower, HFVisionTower) or tower.encoder.config.model_type not in TOWER_TYPES:
        raise UserError(f"hf-llava export needs a Hugging Face CLIP or SigLIP vision tower, not "
                        f"'{getattr(tower, 'name', type(tower).__name__)}'")
    if not isinstance(tower.feature_layer, int):
        raise UserError("hf-llava export supports a single vision feature layer")
    return tower


def _plain_llm(model: VisionLanguageModel) -> nn.Module:
    """The causal LM as plain modules: LoRA adapters merged into a copy; the loaded model is untouched."""
    peft = model.peft
    if peft is None:
        return model.llm
    return copy.deepcopy(peft).merge_and_unload()


def llava_config(model: VisionLanguageModel, llm: nn.Module):
    """LlavaConfig that reproduces tunebench's image path: same feature layer, same CLS handling."""
    from transformers import LlavaConfig

    tower = model.tower
    text_config = copy.deepcopy(llm.config)
    text_config.vocab_size = llm.get_input_embeddings().weight.shape[0]  # includes the added <image> token
    vision_config = copy.deepcopy(tower.encoder.config)
    for sub in (text_config, vision_config):
        sub._name_or_path = ""  # local source folders mean nothing to whoever loads the export
    return LlavaConfig(
        vision_config=vision_config,
        text_config=text_config,
        image_token_index=model.image_token_id,
        image_seq_length=model.num_image_tokens,
        projector_hidden_act="gelu",
        vision_feature_layer=tower.feature_layer,
        vision_feature_select_strategy="default" if tower.drop_cls else "full",
        multimodal_projector_bias=True,
        tie_word_embeddings=bool(getattr(text_config, "tie_word_embeddings", False)),
    )


def _copy_weights(llava: nn.Module, model: VisionLanguageModel, llm: nn.Module) -> None:
    """Module-by-module strict copies: a missing or extra tensor anywhere raises instead of exporting junk."""
    decoder = getattr(llm, llm.base_model_prefix)
    head = llm.get_output_embeddings()
    if type(decoder) is not type(llava.model.language_model):
        raise UserError(f"the LLM's decoder {type(decoder).__name__} does not map to "
                        f"{type(llava.model.language_model).__name__}")
    covered = sum(p.numel() for p in {*decoder.parameters(), *head.parameters()})
    if covered != sum(p.numel() for p in llm.parameters()):
        raise UserError(f"{type(llm).__name__} has parameters outside its decoder and LM head; "
                        "it has no llava-hf layout")
    with torch.no_grad():
        llava.model.vision_tower.load_state_dict(model.tower.encoder.state_dict())
        llava.model.multi_modal_projector.load_state_dict(model.connector.state_dict())
        llava.model.language_model.load_state_dict(decoder.state_dict())
        llava.lm_head.load_state_dict(head.state_dict())


def _save_processor(model: VisionLanguageModel, tower: HFVisionTower, folder: Path) -> None:
    """Tokenizer plus a LlavaProcessor whose image processor resizes to a square exactly like tunebench."""
    from transformers import LlavaProcessor
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

    prep = tower.preprocess
    side = {"height": prep.size, "width": prep.size}
    images = LlavaImageProcessorPil(size=side, crop_size=side, do_center_crop=False, resample=prep.resample,
                                    image_mean=list(prep.mean), image_std=list(prep.std))
    is_clip = tower.encoder.config.model_type == "clip_vision_model"
    processor = LlavaProcessor(image_processor=images, tokenizer=model.tokenizer,
                               patch_size=tower.encoder.config.patch_size,
                               vision_feature_select_strategy="default" if tower.drop_cls else "full",
                               num_additional_image_tokens=1 if is_clip else 0,
                               chat_template=model.tokenizer.chat_template)
    processor.save_pretrained(folder)


def export_hf_llava(run_or_model: str | Path | VisionLanguageModel, out_dir: str | Path,
                    overwrite: bool = False) -> Path:
    """Write a llava-hf checkpoint folder (safetensors, tokenizer, processor); returns its path.

    The folder is built beside `out_dir` and renamed into place, so a crash never leaves half a checkpoint.
    """
    from transformers import LlavaForConditionalGeneration

    from tunebench.models.checkpoint import load_run

    source = None if isinstance(run_or_model, VisionLanguageModel) else Path(run_or_model).expanduser().resolve()
    out = Path(out_dir).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise UserError("output path is a file, not a folder", where=str(out))
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise UserError("output folder exists and is not empty (pass --overwrite to replace it)", where=str(out))
    if source is not None and source.is_relative_to(out):
        raise UserError("the output folder would replace the run being exported", where=str(out))
    model = run_or_model if source is None else load_run(source)
    tower = _exportable(model)
    llm = _plain_llm(model)
    llava = LlavaForConditionalGeneration(llava_config(model, llm)).to(llm.dtype)
    _copy_weights(llava, model, llm)
    if llm.generation_config is not None:
        llava.generation_config = copy.deepcopy(llm.generation_config)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        llava.save_pretrained(tmp, safe_serialization=True)
        _save_processor(model, tower, tmp)
        atomic_write_json(tmp / SIDECAR, {"template": model.cfg.template, "max_length": model.cfg.max_length,
                                          "weights": model.weights_hashes})
        _replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _replace_dir(new: Path, target: Path) -> None:
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
        os.replace(new, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, target)


# ----- import -------------------------------------------------------------------------------------------
def is_hf_llava(path: str | Path) -> bool:
    config = Path(path).expanduser() / "config.json"
    return config.is_file() and read_json(config).get("model_type") == "llava"


def _check_importable(config, folder: Path) -> None:
    vision_type = config.vision_config.model_type
    problems = []
    if vision_type not in TOWER_TYPES:
        problems.append(f"vision tower '{vision_type}' (CLIP or SigLIP)")
    if not isinstance(config.vision_feature_layer, int):
        problems.append("several vision feature layers")
    if config.projector_hidden_act != "gelu" or not config.multimodal_projector_bias:
        problems.append(f"projector '{config.projector_hidden_act}', bias {config.multimodal_projector_bias}")
    if problems:
        raise UserError(f"unsupported llava checkpoint: {'; '.join(problems)}", where=str(folder))


def _causal_lm(llava: nn.Module) -> nn.Module:
    """A causal LM object around the checkpoint's own decoder and head (shared, not copied)."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        llm = AutoModelForCausalLM.from_config(llava.config.text_config)
    setattr(llm, llm.base_model_prefix, llava.model.language_model)
    llm.set_output_embeddings(llava.lm_head)
    left = [name for name, t in [*llm.named_parameters(), *llm.named_buffers()] if t.is_meta]
    if left:
        raise UserError(f"the language model has tensors outside its decoder and head: {left[:3]}")
    llm.generation_config = llava.generation_config
    return llm


def _template(folder: Path, tokenizer) -> str:
    """The template the model was trained with: recorded by our export, else LLaVA-1.5's vicuna_v1
    unless the tokenizer's own chat template renders plain-text turns (llava-hf processor templates don't)."""
    sidecar = folder / SIDECAR
    if sidecar.is_file():
        return read_json(sidecar)["template"]
    if tokenizer.chat_template:
        try:
            probe = tokenizer.apply_chat_template([{"role": "user", "content": f"{IMAGE_TOKEN}\nprobe"}],
                                                  tokenize=False, add_generation_prompt=True)
            if IMAGE_TOKEN in probe and "probe" in probe:
                return "chat"
        except Exception:  # a template written for content lists fails on plain strings
            pass
    return "vicuna_v1"


def import_hf_llava(path: str | Path, allow_pickle: bool = False,
                    dtype: torch.dtype = torch.float32) -> VisionLanguageModel:
    """Load a llava-hf checkpoint folder as a tunebench model (for evaluation, or further training)."""
    from transformers import AutoTokenizer, LlavaConfig, LlavaForConditionalGeneration

    from tunebench.components.llm import _prepare_tokenizer
    from tunebench.components.safety import require_safetensors
    from tunebench.components.vision import _hf_preprocess
    from tunebench.models.config import VLMConfig
    from tunebench.models.prompting import apply_template

    folder = Path(path).expanduser()
    if not is_hf_llava(folder):
        raise UserError("not a llava-hf checkpoint (config.json model_type is not 'llava')", where=str(folder))
    use_safetensors = require_safetensors(folder, allow_pickle)
    config = LlavaConfig.from_pretrained(folder)
    _check_importable(config, folder)
    llava = LlavaForConditionalGeneration.from_pretrained(folder, dtype=dtype, use_safetensors=use_safetensors)
    tokenizer = _prepare_tokenizer(AutoTokenizer.from_pretrained(folder, trust_remote_code=False))
    if tokenizer.get_vocab().get(IMAGE_TOKEN) != config.image_token_id:
        raise UserError(f"the tokenizer's {IMAGE_TOKEN} id is not the config's image_token_id "
                        f"{config.image_token_id}", where=str(folder))

    vcfg = config.vision_config
    is_clip = vcfg.model_type == "clip_vision_model"
    weights_hash = sha256_tree(folder, "*.safetensors")[:16] if use_safetensors else "pickle"
    preprocess = _hf_preprocess(folder, vcfg.image_size, vcfg.model_type.split("_")[0])
    tower = HFVisionTower(llava.model.vision_tower, preprocess, folder.name, weights_hash,
                          feature_layer=config.vision_feature_layer)
    tower.drop_cls = config.vision_feature_select_strategy == "default"
    tower.num_tokens = (vcfg.image_size // vcfg.patch_size) ** 2 + int(is_clip) - int(tower.drop_cls)
    tower.freeze()
    connector = MlpProjector(vcfg.hidden_size, config.text_config.hidden_size).to(dtype)
    connector.load_state_dict(llava.model.multi_modal_projector.state_dict())

    sidecar = read_json(folder / SIDECAR) if (folder / SIDECAR).is_file() else {}
    max_length = sidecar.get("max_length") or getattr(config.text_config, "max_position_embeddings", 2048)
    cfg = VLMConfig(arch="llava", vision=str(folder), llm=str(folder), template=_template(folder, tokenizer),
                    max_length=int(max_length), allow_pickle=allow_pickle)
    apply_template(tokenizer, cfg.template)
    llm = _causal_lm(llava).requires_grad_(False)
    model = VisionLanguageModel(cfg, tower, llm, tokenizer, connector, weights_hashes={"hf_llava": weights_hash})
    return model.eval()
