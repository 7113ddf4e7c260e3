"""The only place the two designs differ: how image features become LLM input embeddings."""

from __future__ import annotations

import torch
from torch import nn

from tunebench.models.qformer import QFormer


class MlpProjector(nn.Module):
    """LLaVA-1.5's `mlp2x_gelu`: Linear -> GELU -> Linear, one output token per image feature token.

    Attribute names follow transformers' LlavaMultiModalProjector so export is a plain copy.
    """

    def __init__(self, vision_dim: int, llm_dim: int):
        super().__init__()
        self.linear_1 = nn.Linear(vision_dim, llm_dim)
        self.act = nn.GELU()
        self.linear_2 = nn.Linear(llm_dim, llm_dim)

    def frozen_part(self, features: torch.Tensor) -> torch.Tensor:
        return features

    def trainable_part(self, stem: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(stem)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.trainable_part(self.frozen_part(features))


class QFormerConnector(nn.Module):
    """MiniGPT-4: a (frozen by default) Q-Former, then ONE linear layer into the LLM embedding space."""

    def __init__(self, qformer: QFormer, llm_dim: int, train_qformer: bool = False):
        super().__init__()
        self.qformer = qformer
        self.train_qformer = train_qformer
        self.proj = nn.Linear(qformer.hidden_size, llm_dim)
        qformer.requires_grad_(train_qformer)

    def frozen_part(self, features: torch.Tensor) -> torch.Tensor:
        """What a cache may hold: the Q-Former output when it is frozen, else the raw features."""
        return features if self.train_qformer else self.qformer(features)

    def trainable_part(self, stem: torch.Tensor) -> torch.Tensor:
        return self.proj(self.qformer(stem) if self.train_qformer else stem)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.trainable_part(self.frozen_part(features))

    def train(self, mode: bool = True) -> QFormerConnector:
        super().train(mode)
        if not self.train_qformer:
            self.qformer.eval()  # frozen: no dropout
        return self
