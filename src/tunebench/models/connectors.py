"""The only place the two designs differ: how image features become LLM input embeddings."""

from __future__ import annotations

import abc
import hashlib
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from tunebench.models.qformer import QFormer, load_qformer_weights


def pixel_shuffle(features: torch.Tensor, factor: int) -> torch.Tensor:
    """(B, side*side, D) grid -> (B, ceil(side/factor)**2, D*factor**2): each factor x factor block of cells
    becomes one token holding all their features (nanoVLM / SmolVLM / Idefics3). An odd grid is zero-padded."""
    if factor == 1:
        return features
    batch, n, dim = features.shape
    side = math.isqrt(n)
    if side * side != n:
        raise ValueError(f"pixel shuffle needs a square grid of tokens, got {n}")
    out = math.ceil(side / factor)
    grid = features.reshape(batch, side, side, dim)
    pad = out * factor - side
    grid = F.pad(grid, (0, 0, 0, pad, 0, pad))
    grid = grid.reshape(batch, out, factor, out, factor, dim).permute(0, 1, 3, 2, 4, 5)
    return grid.reshape(batch, out * out, factor * factor * dim)


def shuffled_tokens(n: int, factor: int) -> int:
    """Tokens a `factor` pixel shuffle leaves of an n-token square grid."""
    return math.ceil(math.isqrt(n) / factor) ** 2 if factor > 1 else n


def module_hash(module: nn.Module) -> str:
    """Content hash of a module's parameters and buffers (names, shapes and values)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


class Connector(nn.Module, abc.ABC):
    """What the model, the trainer, the feature cache and export ask of either design's connector.

    The image path is `trainable_part(frozen_part(tower features))`. `frozen_part` is what a feature cache may
    hold per image, under `frozen_cache_key()`; when it is the identity (key None) the cache holds the tower's
    features.
    """

    exports_to_hf_llava: bool = False  # transformers' LlavaForConditionalGeneration has an equivalent of it

    @abc.abstractmethod
    def output_tokens(self, input_tokens: int) -> int:
        """Image tokens spliced into the LLM for `input_tokens` tower tokens."""

    @abc.abstractmethod
    def frozen_part(self, features: torch.Tensor) -> torch.Tensor: ...

    @abc.abstractmethod
    def trainable_part(self, feat: torch.Tensor) -> torch.Tensor: ...

    @abc.abstractmethod
    def trainable_parameters(self) -> list[nn.Parameter]:
        """What a stage that trains "connector" updates."""

    @abc.abstractmethod
    def frozen_cache_key(self) -> str | None:
        """What identifies the frozen part's weights for the feature cache; None when it is the identity."""

    def load_pretrained(self, run: Path) -> None:
        """Load the weights of a separately pretrained part (MiniGPT-4's Q-Former); others have none."""
        raise ValueError(f"{type(self).__name__} has no separately pretrained part to load from {run}")

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.trainable_part(self.frozen_part(features))


class MlpProjector(Connector):
    """LLaVA-1.5's `mlp2x_gelu`: Linear -> GELU -> Linear, one output token per image feature token.

    With `shuffle` > 1 the grid is pixel-shuffled first (fewer, wider tokens), as nanoVLM's projector does.
    Attribute names follow transformers' LlavaMultiModalProjector so export is a plain copy.
    """

    def __init__(self, vision_dim: int, llm_dim: int, shuffle: int = 1):
        super().__init__()
        self.shuffle = shuffle
        self.linear_1 = nn.Linear(vision_dim * shuffle * shuffle, llm_dim)
        self.act = nn.GELU()
        self.linear_2 = nn.Linear(llm_dim, llm_dim)

    def output_tokens(self, input_tokens: int) -> int:
        return shuffled_tokens(input_tokens, self.shuffle)

    exports_to_hf_llava = True

    def frozen_part(self, features: torch.Tensor) -> torch.Tensor:
        return features

    def frozen_cache_key(self) -> str | None:
        return None

    def trainable_part(self, feat: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(pixel_shuffle(feat, self.shuffle))))

    def trainable_parameters(self) -> list[nn.Parameter]:
        return list(self.parameters())


class QFormerConnector(Connector):
    """MiniGPT-4: a (frozen by default) Q-Former, then ONE linear layer into the LLM embedding space."""

    def __init__(self, qformer: QFormer, llm_dim: int, train_qformer: bool = False):
        super().__init__()
        self.qformer = qformer
        self.train_qformer = train_qformer
        self.proj = nn.Linear(qformer.hidden_size, llm_dim)
        qformer.requires_grad_(train_qformer)
        self.train(self.training)  # a frozen Q-Former runs without dropout from the start, so cached outputs are exact

    def output_tokens(self, input_tokens: int) -> int:
        return self.qformer.cfg.num_query_tokens

    def frozen_part(self, features: torch.Tensor) -> torch.Tensor:
        """What a cache may hold: the Q-Former output when it is frozen, else the raw features."""
        return features if self.train_qformer else self.qformer(features)

    def trainable_part(self, feat: torch.Tensor) -> torch.Tensor:
        return self.proj(self.qformer(feat) if self.train_qformer else feat)

    def frozen_cache_key(self) -> str | None:
        # "eval": entries written before the frozen Q-Former ran without dropout are never read.
        return None if self.train_qformer else f"qformer-eval:{module_hash(self.qformer)}"

    def load_pretrained(self, run: Path) -> None:
        """The Q-Former of a BLIP-2 stage-1 run (`tunebench pretrain-qformer`)."""
        load_qformer_weights(self.qformer, run)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [*self.proj.parameters(), *(self.qformer.parameters() if self.train_qformer else ())]

    def train(self, mode: bool = True) -> QFormerConnector:
        super().train(mode)
        if not self.train_qformer:
            self.qformer.eval()  # frozen: no dropout
        return self
