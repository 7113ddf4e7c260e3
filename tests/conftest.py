"""Shared fixtures. Integration tests share one on-disk cache of converted parts per checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import tunebench  # noqa: F401  (sets the offline environment before any library reads it)

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("TUNEBENCH_CACHE", str(REPO / ".cache" / "tunebench"))
os.environ["HF_HUB_OFFLINE"] = "1"
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def smollm2():
    from tunebench.components import load_llm

    return load_llm("smollm2-135m-instruct")


@pytest.fixture(scope="session")
def efficientnet():
    from tunebench.components import load_vision_tower

    return load_vision_tower("efficientnet-lite0")


@pytest.fixture(scope="module")
def one_thread_per_module():
    """Tiny in-process models run fastest on one thread (see tests/helpers/threads.py)."""
    from tests.helpers.threads import torch_threads

    with torch_threads(1):
        yield
