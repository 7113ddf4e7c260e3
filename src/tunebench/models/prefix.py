"""Shared prompt prefixes: the keys and values of the tokens up to an image's last token, computed once.

Every question about one image starts with the same tokens (system prompt, turn header, the image's
tokens); on a CPU the prefill of those ~70 positions is most of the cost of a short answer. Their keys and
values are computed once per image (prefixes of one length batch without padding) and each question then
prefills only its own tokens after them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import DynamicCache


@dataclass(frozen=True)
class PrefixKV:
    """Per-layer (keys, values), each (batch, kv_heads, length, head_dim)."""

    layers: tuple[tuple[torch.Tensor, torch.Tensor], ...]

    @property
    def length(self) -> int:
        return int(self.layers[0][0].shape[-2])

    @classmethod
    def stack(cls, rows: Sequence[PrefixKV]) -> PrefixKV:
        """One batch from single prefixes of equal length (one per row)."""
        if len({row.length for row in rows}) != 1:
            raise ValueError("prefixes of one batch must have the same length")
        return cls(tuple((torch.cat([row.layers[i][0] for row in rows]), torch.cat([row.layers[i][1] for row in rows]))
                         for i in range(len(rows[0].layers))))

    def cache(self) -> DynamicCache:
        """A fresh cache holding the prefix (the model appends to it; the stored tensors stay as they are)."""
        return DynamicCache(ddp_cache_data=list(self.layers))

    def full_mask(self, suffix_mask: torch.Tensor) -> torch.Tensor:
        """Attention mask over prefix + suffix: the prefix is never padded."""
        return torch.cat([suffix_mask.new_ones(suffix_mask.shape[0], self.length), suffix_mask], dim=1)


def prefix_length(input_ids: Sequence[int], image_token_id: int) -> int:
    """Tokens up to and including the last image token (0 without an image: nothing worth sharing)."""
    for i in range(len(input_ids) - 1, -1, -1):
        if input_ids[i] == image_token_id:
            return i + 1
    return 0
