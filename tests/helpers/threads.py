"""Thread count for in-process model tests: one thread is fastest for tiny models on a shared 2-core machine
(spinning OpenMP workers slow tiny matmuls down tenfold when other processes hold the cores)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
