"""The one training loop: token-weighted gradient accumulation, the precision policy's autocast, exact resume, and data
parallelism through Hugging Face Accelerate (DDP on CPUs or GPUs; FSDP/DeepSpeed via accelerate configs).

The loss of an optimizer step is the mean over ALL supervised tokens of the step (every micro-batch on
every rank), or their weighted mean where the batches carry `label_weights`, so 1 process, N processes and any
accumulation split compute the same update.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from pydantic import Field
from torch import nn
from torch.profiler import record_function

from tunebench.core.config import STRICT, Count, NonNegative, Positive
from tunebench.core.device import Precision, resolve_precision
from tunebench.core.seed import seed_everything
from tunebench.train.checkpointing import TrainState, load_checkpoint, save_checkpoint
from tunebench.train.monitor import Monitor, PeakMemory
from tunebench.train.sampling import step_plan


@dataclass
class OptimConfig:
    __pydantic_config__ = STRICT
    lr: NonNegative = 2e-5
    weight_decay: NonNegative = 0.0
    warmup_ratio: Annotated[float, Field(ge=0, le=1)] = 0.03
    schedule: Literal["cosine", "constant"] = "cosine"
    min_lr_ratio: Annotated[float, Field(ge=0, le=1)] = 0.0  # cosine floor as a fraction of each group's lr
    epochs: Annotated[float, Field(gt=0)] = 1.0
    max_steps: Positive | None = None
    batch_size: Positive = 8  # per process micro-batch
    grad_accum: Positive = 1
    max_grad_norm: NonNegative = 1.0
    seed: int = 0
    precision: Precision = "auto"  # auto: bf16 where the hardware computes it natively, else fp32
    checkpoint_every: Count = 25  # optimizer steps between resumable checkpoints; 0 = none
    log_every: Positive = 1
    group_by_length: bool = True


@dataclass
class TrainResult:
    losses: list[float] = field(default_factory=list)
    steps: int = 0
    samples: int = 0
    tokens: int = 0
    wall_s: float = 0.0
    peak_mem_mb: float = 0.0
    hook_s: float = 0.0  # time spent in `on_step` (e.g. learning-curve evaluations), not in `wall_s`
    precision: dict[str, Any] = field(default_factory=dict)  # PrecisionChoice.record(): what the steps computed in

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.wall_s if self.wall_s else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall_s if self.wall_s else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "samples_per_s": self.samples_per_s, "tokens_per_s": self.tokens_per_s}


LossFn = Callable[[nn.Module, dict], tuple[torch.Tensor, float]]  # (mean loss, what it is the mean over)
# Called with the training state, the number of optimizer steps and the (unwrapped) model: once before the
# first step and after every step. It runs outside the timed training and must not change the weights.
StepHook = Callable[[TrainState, int, nn.Module], None]


def lr_factor(step: int, total: int, cfg: OptimConfig) -> float:
    """Linear warmup then cosine decay to `min_lr_ratio` (or constant)."""
    warmup = max(1, math.ceil(cfg.warmup_ratio * total)) if cfg.warmup_ratio > 0 else 0
    if step < warmup:
        return (step + 1) / warmup
    if cfg.schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def train(model: nn.Module, param_groups: list[dict], dataset: Sequence, collate: Callable[[list], dict],
          loss_fn: LossFn, cfg: OptimConfig, run_dir: Path | None = None, resume: bool = False,
          lengths: Sequence[int] | None = None, label: str = "train", accelerator=None,
          on_step: StepHook | None = None) -> TrainResult:
    """Train the parameters in `param_groups` on `dataset`; checkpoints and metrics go to `run_dir`."""
    from accelerate import Accelerator

    accelerator = accelerator or Accelerator(cpu=not torch.cuda.is_available())
    precision = resolve_precision(cfg.precision, accelerator.device)
    world, rank = accelerator.num_processes, accelerator.process_index
    seed_everything(cfg.seed)
    plan = step_plan(len(dataset), cfg.batch_size, cfg.grad_accum, world, cfg.epochs, cfg.seed,
                     lengths if cfg.group_by_length else None)
    total = min(len(plan), cfg.max_steps) if cfg.max_steps else len(plan)
    for group in param_groups:
        group.setdefault("weight_decay", cfg.weight_decay)
        group["base_lr"] = group.get("lr", cfg.lr)
    # foreach: one kernel per operation over all tensors, the same numbers as PyTorch's CPU default (a loop over
    # tensors) in fewer, larger operations; fused AdamW would be faster still but rounds differently.
    optimizer = torch.optim.AdamW(param_groups, lr=cfg.lr, betas=(0.9, 0.999), foreach=True)
    model, optimizer = accelerator.prepare(model, optimizer)
    trainable = [p for g in param_groups for p in g["params"]]
    state = TrainState()
    if resume and run_dir is not None:
        state = load_checkpoint(run_dir, accelerator.unwrap_model(model), optimizer) or state
    monitor = Monitor(run_dir, label, total, enabled=accelerator.is_main_process, start_step=state.step)
    memory = PeakMemory(accelerator.device)
    hook_s = 0.0

    def hook() -> None:
        nonlocal start, hook_s
        if on_step is None or not accelerator.is_main_process:
            return
        began = time.perf_counter()
        on_step(state, total, accelerator.unwrap_model(model))
        spent = time.perf_counter() - began
        start, hook_s = start + spent, hook_s + spent  # training time excludes the hook's
        model.train()

    start = time.perf_counter() - state.wall_s
    hook()
    model.train()
    for step in range(state.step, total):
        factor = lr_factor(step, total, cfg)
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        with record_function("collate"):  # the phases are named for profilers (benchmarks/step_profile.py)
            micro_batches = [collate([dataset[i] for i in mb[rank::world]]) for mb in plan[step]]
            local = torch.tensor([[supervised_units(b), loss_weight(b)] for b in micro_batches], dtype=torch.float64)
            step_tokens, step_weight = accelerator.reduce(local.sum(0).to(accelerator.device), "sum").tolist()
        if step_tokens == 0:
            raise RuntimeError(f"optimizer step {step} has no supervised tokens")
        step_loss = torch.zeros((), device=accelerator.device)
        for i, batch in enumerate(micro_batches):
            sync = i == len(micro_batches) - 1
            no_sync = accelerator.no_sync(model) if not sync else contextlib.nullcontext()
            with no_sync, precision.autocast(), record_function("forward"):
                loss, n = loss_fn(model, _to(batch, accelerator.device))
                weighted = loss * (n * world / step_weight)  # DDP averages over ranks; undo, weight by share
            with record_function("backward"):
                accelerator.backward(weighted)
            step_loss += loss.detach() * n
        with record_function("optimizer"):
            if cfg.max_grad_norm:
                accelerator.clip_grad_norm_(trainable, cfg.max_grad_norm)
            optimizer.step()
            memory.sample()
            optimizer.zero_grad(set_to_none=True)
        mean_loss = float(accelerator.reduce(step_loss, "sum")) / step_weight
        state.record(mean_loss, sum(len(mb) for mb in plan[step]), int(step_tokens), time.perf_counter() - start)
        monitor.log(state, lr=optimizer.param_groups[0]["lr"], every=cfg.log_every)
        if run_dir is not None and cfg.checkpoint_every and state.step % cfg.checkpoint_every == 0 \
                and state.step < total and accelerator.is_main_process:
            save_checkpoint(run_dir, accelerator.unwrap_model(model), optimizer, state)
        hook()
        accelerator.wait_for_everyone()
    monitor.close()
    return TrainResult(losses=state.losses, steps=state.step, samples=state.samples, tokens=state.tokens,
                       wall_s=time.perf_counter() - start, peak_mem_mb=memory.mb(), hook_s=hook_s,
                       precision=precision.record())


def supervised_units(batch: dict) -> int:
    """How many things a loss is computed on: supervised next tokens, or `n_units` (e.g. image-text pairs)."""
    if "n_units" in batch:
        return int(batch["n_units"])
    return int((batch["labels"][:, 1:] != -100).sum())


def loss_weight(batch: dict) -> float:
    """What a loss is the mean over: its supervised units, or the sum of their `label_weights`."""
    if "label_weights" not in batch:
        return float(supervised_units(batch))
    return float(batch["label_weights"][:, 1:][batch["labels"][:, 1:] != -100].sum())


def _to(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
