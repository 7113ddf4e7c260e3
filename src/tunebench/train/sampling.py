"""Deterministic batch order: a pure function of (seed, epoch), so a resumed run sees the same batches."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int,
                  lengths: Sequence[int] | None = None, group_factor: int = 16) -> list[list[int]]:
    """Shuffled mini-batches of indices; with `lengths`, samples of similar length share a batch.

    Length grouping (LLaVA's `group_by_modality_length` idea): shuffle, cut into mega-batches of
    `group_factor` batches, sort each by length, cut into batches, then shuffle the batch order.
    Less padding, same expected gradient.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(n).tolist()
    if lengths is not None:
        mega = batch_size * group_factor
        order = [i for s in range(0, n, mega) for i in sorted(order[s : s + mega], key=lambda j: -lengths[j])]
    batches = [order[s : s + batch_size] for s in range(0, n, batch_size)]
    if lengths is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def step_plan(n: int, batch_size: int, grad_accum: int, world: int, epochs: float, seed: int,
              lengths: Sequence[int] | None = None) -> list[list[list[int]]]:
    """Every optimizer step as a list of global micro-batches (each `batch_size * world` samples).

    A rank takes its slice of each global micro-batch, so N processes see exactly the samples of one
    process at the same global batch.
    """
    global_micro = batch_size * world
    micro: list[list[int]] = []
    full_epochs = int(np.ceil(epochs))
    for epoch in range(full_epochs):
        batches = epoch_batches(n, global_micro, seed, epoch, lengths)
        if epoch == full_epochs - 1 and epochs != full_epochs:
            batches = batches[: max(1, round(len(batches) * (epochs - epoch)))]
        micro += batches
    return [micro[s : s + grad_accum] for s in range(0, len(micro), grad_accum)]
