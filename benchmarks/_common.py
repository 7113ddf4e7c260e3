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


def shapes_world(out: Path, train: int, test: int, seed: int = 0) -> Path:
    """Generate a small Shapes world (the same seed gives byte-identical files)."""
    from tunebench.data.shapes.generate import ShapesConfig, generate

    generate(ShapesConfig(out, seed=seed, train=train, test=test))
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
    info = {
        "torch": torch.__version__,
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
