"""Padding many samples into one batch without changing any sample's result."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from tunebench.models.prompting import IGNORE_INDEX


def pad_id_of(tokenizer) -> int:
    """The tokenizer's padding id; its end-of-sequence id where it has none (as LLaMA's tokenizers)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def pad_batch(examples: Sequence[dict[str, Any]], pad_id: int, side: str = "left") -> dict[str, torch.Tensor]:
    """Pad `input_ids` (and `labels` if present) to one length; stack the images' frozen features.

    Position ids are derived from the attention mask, so a left-padded sample sees the same positions
    as when it runs alone: padding never shifts a sample's rotary positions.
    """
    length = max(len(e["input_ids"]) for e in examples)
    ids, mask, labels = [], [], []
    for e in examples:
        n = length - len(e["input_ids"])
        pad, ones = [pad_id] * n, [1] * len(e["input_ids"])
        ids.append(pad + list(e["input_ids"]) if side == "left" else list(e["input_ids"]) + pad)
        mask.append([0] * n + ones if side == "left" else ones + [0] * n)
        if "labels" in e:
            ignore = [IGNORE_INDEX] * n
            labels.append(ignore + list(e["labels"]) if side == "left" else list(e["labels"]) + ignore)
    batch = {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask)}
    batch["position_ids"] = position_ids(batch["attention_mask"])
    if labels:
        batch["labels"] = torch.tensor(labels)
    if any(e.get("frozen_features") is not None for e in examples):
        batch["frozen_features"] = torch.stack([e["frozen_features"] for e in examples])
    return batch


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
