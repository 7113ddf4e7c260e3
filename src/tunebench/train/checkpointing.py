"""Training checkpoints that survive kill -9 at any moment: written to a temporary folder, then swapped in.

Only trainable tensors are saved (safetensors); optimizer state is plain tensors and numbers, read back
with torch's weights-only loader; RNG states are recorded so a resumed run draws the same numbers.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from tunebench.core.io import atomic_write_json, read_json

CHECKPOINT = "checkpoint"


@dataclass
class TrainState:
    step: int = 0
    samples: int = 0
    tokens: int = 0
    wall_s: float = 0.0
    losses: list[float] = field(default_factory=list)

    def record(self, loss: float, samples: int, tokens: int, wall_s: float) -> None:
        self.step += 1
        self.samples += samples
        self.tokens += tokens
        self.wall_s = wall_s
        self.losses.append(loss)


def _trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().contiguous().cpu() for n, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer, state: TrainState) -> None:
    run_dir = Path(run_dir)
    tmp = run_dir / f".{CHECKPOINT}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(_trainable_state(model), str(tmp / "trainable.safetensors"))
    torch.save({"optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state()}, tmp / "optimizer.pt")
    atomic_write_json(tmp / "state.json", asdict(state))
    for f in tmp.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    final, old = run_dir / CHECKPOINT, run_dir / f".{CHECKPOINT}.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def remove_checkpoints(run_dir: Path) -> None:
    """Delete a run's checkpoint and any half-swapped copy (once the run's result is saved elsewhere)."""
    for name in (CHECKPOINT, f".{CHECKPOINT}.old", f".{CHECKPOINT}.tmp"):
        shutil.rmtree(Path(run_dir) / name, ignore_errors=True)


def load_checkpoint(run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> TrainState | None:
    """Restore the newest complete checkpoint (a swap interrupted by a crash leaves `.checkpoint.old`)."""
    run_dir = Path(run_dir)
    for folder in (run_dir / CHECKPOINT, run_dir / f".{CHECKPOINT}.old"):
        if (folder / "state.json").is_file():
            break
    else:
        return None
    weights = load_file(str(folder / "trainable.safetensors"))
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value)
    extra = torch.load(folder / "optimizer.pt", map_location="cpu", weights_only=True)
    optimizer.load_state_dict(extra["optimizer"])
    torch.set_rng_state(extra["torch_rng"])
    return TrainState(**read_json(folder / "state.json"))
