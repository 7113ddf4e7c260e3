"""What a user watches during training: a Rich progress bar, metrics.jsonl and TensorBoard."""

from __future__ import annotations

import resource
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from tunebench.core.io import append_jsonl, atomic_write_text


def _rss_mb() -> float:
    try:
        resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
        return resident_pages * resource.getpagesize() / 2**20
    except (OSError, IndexError, ValueError):  # no /proc: the process's high-water mark (Linux reports KiB)
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakMemory:
    """Peak memory of one training run, not of the process so far.

    CUDA: the allocator's peak since the run began. CPU: the resident set sampled after every optimizer step
    (gradients and optimizer state still held), because the kernel's high-water mark cannot be reset and
    would carry an earlier stage's peak into every later stage of a benchmark.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.peak = 0.0
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

    def sample(self) -> None:
        if self.device.type != "cuda":
            self.peak = max(self.peak, _rss_mb())

    def mb(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        self.sample()
        return self.peak


class Monitor:
    def __init__(self, run_dir: Path | None, label: str, total: int, enabled: bool = True, start_step: int = 0):
        self.enabled = enabled
        self.run_dir = Path(run_dir) if run_dir else None
        self.writer = None
        self.metrics = self.run_dir / "metrics.jsonl" if self.run_dir else None
        if enabled and self.metrics is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            _truncate_after(self.metrics, start_step)
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=start_step)
        # Without a terminal (CI logs, nohup, a benchmark worker's log) a live bar does not refresh: print a line
        # every 5% instead.
        live = Console().is_terminal
        self.progress = Progress(
            TextColumn(f"[bold]{label}[/]"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TextColumn("loss {task.fields[loss]:.4f}  lr {task.fields[lr]:.2e}  {task.fields[sps]:.1f} samples/s"),
            TimeElapsedColumn(), TimeRemainingColumn(), disable=not (enabled and live), transient=False,
        )
        self.task = self.progress.add_task(label, total=total, completed=start_step, loss=float("nan"), lr=0.0,
                                           sps=0.0)
        self.progress.start()
        self.label, self.total = label, total
        self.plain_every = 0 if live else max(1, total // 20)

    def log(self, state, lr: float, every: int = 1) -> None:
        if not self.enabled:
            return
        sps = state.samples / state.wall_s if state.wall_s else 0.0
        self.progress.update(self.task, completed=state.step, loss=state.losses[-1], lr=lr, sps=sps)
        if self.plain_every and (state.step % self.plain_every == 0 or state.step == self.total):
            eta = (self.total - state.step) * state.wall_s / max(1, state.step)
            self.progress.console.print(f"{self.label}: step {state.step}/{self.total} loss {state.losses[-1]:.4f} "
                                        f"lr {lr:.2e} {sps:.1f} samples/s eta {eta:.0f}s", highlight=False)
        if state.step % max(1, every):
            return
        row = {"step": state.step, "loss": state.losses[-1], "lr": lr, "samples": state.samples,
               "tokens": state.tokens, "wall_s": round(state.wall_s, 3)}
        if self.metrics is not None:
            append_jsonl(self.metrics, row)
        if self.writer is not None:
            self.writer.add_scalar("train/loss", row["loss"], state.step)
            self.writer.add_scalar("train/lr", lr, state.step)
            self.writer.add_scalar("train/samples_per_s", sps, state.step)

    def close(self) -> None:
        self.progress.stop()
        if self.writer is not None:
            self.writer.close()


def _truncate_after(metrics: Path, step: int) -> None:
    """On resume, drop metric rows logged after the checkpoint we resume from (and a line a crash cut short)."""
    if not metrics.exists():
        return
    import json

    def row_step(line: str) -> float:
        try:
            return json.loads(line)["step"]
        except (json.JSONDecodeError, KeyError, TypeError):
            return float("inf")

    keep = [line for line in metrics.read_text().splitlines() if line.strip() and row_step(line) <= step]
    atomic_write_text(metrics, "".join(line + "\n" for line in keep))
