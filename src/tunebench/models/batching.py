"""Padding many samples into one batch without changing any sample's result."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from tunebench.models.packing import PADDING
from tunebench.models.prompting import IGNORE_INDEX


def pad_id_of(tokenizer) -> int:
    """The tokenizer's padding id; its end-of-sequence id where it has none (as LLaMA's tokenizers)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def pad_batch(examples: Sequence[dict[str, Any]], pad_id: int, side: str = "left") -> dict[str, torch.Tensor]:
    """Pad `input_ids` (and `labels`, and the segment and position ids of isolated turns, if present) to one
    length; stack the images' frozen features.

    Position ids are derived from the attention mask unless the samples carry their own, so a left-padded
    sample sees the same positions as when it runs alone: padding never shifts a sample's rotary positions.
    """
    length = max(len(e["input_ids"]) for e in examples)

    def padded(rows: Sequence[Sequence[int]], value: int) -> torch.Tensor:
        def pad(row: Sequence[int]) -> list[int]:
            fill = [value] * (length - len(row))
            return fill + list(row) if side == "left" else list(row) + fill

        return torch.tensor([pad(row) for row in rows])

    def column(key: str, value: int) -> torch.Tensor:
        return padded([e[key] for e in examples], value)

    batch = {"input_ids": column("input_ids", pad_id),
             "attention_mask": padded([[1] * len(e["input_ids"]) for e in examples], 0)}
    batch["position_ids"] = column("position_ids", 0) if "position_ids" in examples[0] else position_ids(
        batch["attention_mask"])
    if "segment_ids" in examples[0]:
        batch["segment_ids"] = column("segment_ids", PADDING)
    if "labels" in examples[0]:
        batch["labels"] = column("labels", IGNORE_INDEX)
    if any(e.get("frozen_features") is not None for e in examples):
        batch["frozen_features"] = torch.stack([e["frozen_features"] for e in examples])
    return batch


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
