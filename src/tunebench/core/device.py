"""Device choice and the package's one precision policy: bf16 where the hardware computes it natively, else fp32.

`auto` decides by the hardware: CUDA with bf16 support, or a CPU whose oneDNN reports native bf16 (AVX-512 BF16
or AMX). On other CPUs bf16 is emulated and runs many times slower than fp32, so `auto` picks fp32 there; an
explicit `bf16` still runs, after a one-line warning giving the slowdown measured on this machine.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from dataclasses import dataclass
from typing import Literal

import torch

Precision = Literal["auto", "fp32", "bf16"]
log = logging.getLogger(__name__)


def pick_device(requested: str | None = None) -> torch.device:
    """`requested` wins ("cpu", "cuda", "cuda:1"); otherwise CUDA if available, else CPU."""
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cpu_capability() -> str:
    """The CPU instruction set torch dispatches to: AVX2, AVX512, ... (the string torch itself reports)."""
    return str(torch.backends.cpu.get_cpu_capability())


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes bf16 matrix products in hardware rather than by emulation."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


@dataclass(frozen=True)
class PrecisionChoice:
    """What a job asked for and what it computes in, with the hardware facts behind the choice."""

    requested: Precision
    used: Literal["fp32", "bf16"]
    device: str
    cpu_capability: str
    native_bf16: bool

    @property
    def bf16(self) -> bool:
        return self.used == "bf16"

    @property
    def dtype(self) -> torch.dtype:
        return torch.bfloat16 if self.bf16 else torch.float32

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast when bf16 was chosen; a no-op context in fp32."""
        if self.bf16:
            return torch.autocast(device_type=self.device, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def record(self) -> dict[str, str | bool]:
        """The fields every result carries, so two machines' numbers can be told apart."""
        return {"precision": self.used, "precision_requested": self.requested,
                "cpu_capability": self.cpu_capability, "native_bf16": self.native_bf16}


def resolve_precision(requested: Precision = "auto", device: torch.device | str | None = None) -> PrecisionChoice:
    """The one place that decides a job's precision (training, Q-Former pretraining, evaluation, strategies)."""
    if requested not in ("auto", "fp32", "bf16"):
        from tunebench.core.errors import UserError

        raise UserError(f"unknown precision {requested!r} (auto, fp32, bf16)")
    device = torch.device(device) if device is not None else pick_device()
    native = native_bf16(device)
    used = ("bf16" if native else "fp32") if requested == "auto" else requested
    if used == "bf16" and not native and device.type == "cpu":
        _warn_emulated_bf16()
    return PrecisionChoice(requested, used, device.type, cpu_capability(), native)


@functools.cache
def _warn_emulated_bf16() -> None:
    """Warn once per process, with the slowdown measured here rather than guessed."""
    log.warning("precision bf16 on a CPU without native bf16 (%s): bf16 matrix products run %.0fx slower than fp32 "
                "on this machine; precision 'auto' would choose fp32", cpu_capability(), bf16_slowdown())


def bf16_slowdown(m: int = 32, k: int = 576, n: int = 1536) -> float:
    """How many times longer a bf16 matrix product of the LLM's shape takes than fp32 on this CPU (~0.1 s)."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    return matmul_seconds(a.bfloat16(), b.bfloat16()) / matmul_seconds(a, b)


def matmul_seconds(a: torch.Tensor, b: torch.Tensor, repeats: int = 3) -> float:
    """The fastest of `repeats` timings of `a @ b`, after one untimed warm-up."""
    a @ b  # warm-up: the first call picks a kernel
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - began)
    return best
