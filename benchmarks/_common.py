"""Shared pieces of the throughput benchmarks: data, an isolated feature cache, timing and printing.

Run from the repository root; each benchmark puts this folder on `sys.path` itself.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

CACHE_ENV = "TUNEBENCH_CACHE"


def add_shared_args(parser: argparse.ArgumentParser) -> None:
    """Options both benchmarks take: the data folder, the torch thread count and the seed."""
    parser.add_argument("--shapes", type=Path, default=None, help="a `tunebench data shapes` folder (else a temp one)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (0: torch's default); 1 keeps timings stable on a shared machine")
    parser.add_argument("--seed", type=int, default=0)


def apply_threads(threads: int) -> None:
    if threads > 0:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A temporary folder owned by this run, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


def shapes_world(out: Path, train: int, test: int, seed: int = 0, **world) -> Path:
    """Generate a small Shapes world (the same seed gives byte-identical files); `world`: its difficulty and
    stage-2 mix (max_objects, questions_per_image, question_mix)."""
    from tunebench.data.shapes.generate import ShapesConfig, generate

    generate(ShapesConfig(out, seed=seed, train=train, test=test, **world))
    return out


@contextlib.contextmanager
def cold_feature_cache(root: Path) -> Iterator[Path]:
    """Point tunebench's cache at an empty folder while the block runs, so image features start cold.

    Enter it only around feature computation: weights are loaded before, from the user's normal cache.
    """
    root.mkdir(parents=True, exist_ok=True)
    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(root)
    try:
        yield root
    finally:
        if before is None:
            os.environ.pop(CACHE_ENV, None)
        else:
            os.environ[CACHE_ENV] = before


@dataclass
class Timer:
    """Wall-clock seconds, and CPU seconds of this process (all threads): on a shared machine the CPU time
    moves less with other jobs' load than the wall time does."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0

    @contextlib.contextmanager
    def measure(self) -> Iterator[None]:
        start, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - start
            self.cpu_seconds += time.process_time() - cpu


def load_average() -> str:
    """The 1-minute load average (how busy the shared machine was), or "n/a"."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "n/a"


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def settings_line(**extra: object) -> str:
    """Machine and run settings printed with every result."""
    from tunebench.core.device import cpu_capability, native_bf16

    info = {
        "torch": torch.__version__,
        "cpu_capability": cpu_capability(),
        "native_bf16": native_bf16(torch.device("cpu")),
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "machine": platform.machine(),
        "load": load_average(),
        **extra,
    }
    return "settings: " + ", ".join(f"{k}={v}" for k, v in info.items())


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table (Markdown-compatible, so it can be pasted into the README)."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def decoder_matmul_shapes(llm_config) -> list[tuple[int, int]]:
    """(in, out) of every linear layer of one decoder layer: q, k, v, o, gate, up, down."""
    hidden, inter = llm_config.hidden_size, llm_config.intermediate_size
    kv = llm_config.num_key_value_heads * getattr(llm_config, "head_dim", hidden // llm_config.num_attention_heads)
    return [(hidden, hidden), (hidden, kv), (hidden, kv), (hidden, hidden), (hidden, inter), (hidden, inter),
            (inter, hidden)]


def matmul_peak_gflops(llm_config, dtype: torch.dtype, rows: int = 1024, repeats: int = 3) -> float:
    """This machine's matrix-product throughput at the LLM's own shapes (`rows` tokens through every linear
    layer of a decoder layer), in `dtype`, at the current thread count: the ceiling a training step can reach."""
    from tunebench.core.device import matmul_seconds

    flops = seconds = 0.0
    for k, n in decoder_matmul_shapes(llm_config):
        a, b = torch.randn(rows, k).to(dtype), torch.randn(k, n).to(dtype)
        flops, seconds = flops + 2.0 * rows * k * n, seconds + matmul_seconds(a, b, repeats)
    return flops / seconds / 1e9


def flop_counter():
    """torch's FLOP counter, taught the CPU flash-attention kernels (forward and backward) it does not know."""
    from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

    def forward(query, key, value, *args, out_shape=None, **kwargs) -> int:
        return sdpa_flop_count(query, key, value)

    def backward(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
        return sdpa_backward_flop_count(grad_out, query, key, value)

    aten = torch.ops.aten
    return FlopCounterMode(display=False, custom_mapping={
        aten._scaled_dot_product_flash_attention_for_cpu: forward,
        aten._scaled_dot_product_flash_attention_for_cpu_backward: backward})


def training_flops(model: torch.nn.Module, batches: Sequence[dict], precision) -> float:
    """FLOPs of the forward and backward of every matrix product (attention included) that training `model` on
    `batches` runs, as torch's FLOP counter sees them. Run it after a timed run: counting slows the ops."""
    counter = flop_counter()
    with counter:
        for batch in batches:
            with precision.autocast():
                loss, _ = model(batch)
            loss.backward()
    model.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())
