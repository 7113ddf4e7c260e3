"""The only place the two designs differ: how image features become LLM input embeddings."""

from __future__ import annotations

import abc
import math

import torch
import torch.nn.functional as F
from torch import nn

from tunebench.models.qformer import QFormer


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


class Connector(nn.Module, abc.ABC):
    """What the model asks of either design's connector.

    The image path is `trainable_part(frozen_part(tower features))`. `frozen_part` is what a feature cache may
    hold per image; when it is the identity (`frozen_is_identity`) the cache holds the tower's features.
    """

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

    @property
    @abc.abstractmethod
    def frozen_is_identity(self) -> bool: ...

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

    frozen_is_identity = True

    def frozen_part(self, features: torch.Tensor) -> torch.Tensor:
        return features

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

    @property
    def frozen_is_identity(self) -> bool:
        return self.train_qformer

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [*self.proj.parameters(), *(self.qformer.parameters() if self.train_qformer else ())]

    def train(self, mode: bool = True) -> QFormerConnector:
        super().train(mode)
        if not self.train_qformer:
            self.qformer.eval()  # frozen: no dropout
        return self
