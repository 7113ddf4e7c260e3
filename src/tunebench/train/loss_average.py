"""What a training loss is the mean of: every supervised token (LLaVA's and most trainers' default), every answer
(each answer weighs the same, however long), or InternVL 2.5's compromise, each token weighted by one over the
square root of its answer's length.

With the mean over tokens a 40-token description outweighs a one-word "Yes" forty to one, so short answers
(yes/no, counts, colours) steer few of a step's gradients. An answer is a run of consecutive supervised label
positions; with isolated turns (`models/packing.py`) each run is one independent question's answer.
"""

from __future__ import annotations

from typing import Literal

import torch

from tunebench.models.prompting import IGNORE_INDEX

LossAverage = Literal["token", "answer", "square"]
LENGTH_POWER: dict[str, float] = {"token": 0.0, "square": 0.5, "answer": 1.0}


def answer_lengths(labels: torch.Tensor) -> torch.Tensor:
    """For every label position, the length of the answer (run of supervised positions) it lies in; 0 elsewhere."""
    supervised = labels != IGNORE_INDEX
    before = torch.nn.functional.pad(supervised[:, :-1], (1, 0), value=False)
    run = torch.cumsum((supervised & ~before).flatten().long(), 0).view_as(labels)  # unique across rows
    lengths = torch.bincount(run[supervised], minlength=int(run.max()) + 1)
    return torch.where(supervised, lengths[run], 0)


def answer_weights(labels: torch.Tensor, average: LossAverage) -> torch.Tensor:
    """Each label position's weight in the loss: length ** -power of its answer, 0 where nothing is supervised."""
    lengths = answer_lengths(labels).float()
    return torch.where(lengths > 0, lengths.clamp(min=1) ** -LENGTH_POWER[average], 0.0)


def with_answer_weights(batch: dict, average: LossAverage) -> dict:
    """The batch with `label_weights` added where the loss is not the plain mean over tokens."""
    if average == "token" or "labels" not in batch:
        return batch
    return {**batch, "label_weights": answer_weights(batch["labels"], average)}
