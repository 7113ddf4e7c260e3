"""Device choice and mixed precision: CUDA when present, else CPU; bf16 autocast where it pays off."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def pick_device(requested: str | None = None) -> torch.device:
    """`requested` wins ("cpu", "cuda", "cuda:1"); otherwise CUDA if available, else CPU."""
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu"


def autocast(device: torch.device, enabled: bool = True) -> contextlib.AbstractContextManager:
    """bf16 autocast on devices that support it; a no-op context otherwise."""
    if enabled and bf16_supported(device):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Temporarily switch a module to eval mode without gradients, restoring its previous mode."""
    was_training = module.training
    module.eval()
    try:
        with torch.inference_mode():
            yield module
    finally:
        module.train(was_training)
