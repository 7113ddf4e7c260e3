"""Checkpoints survive a crash at any point of the save; resume restores weights, optimizer, RNG and metrics."""

from __future__ import annotations

import json
import os

import torch
from torch import nn

from tests.helpers.procs import jsonl_rows
from tunebench.train.checkpointing import TrainState, load_checkpoint, save_checkpoint
from tunebench.train.monitor import _truncate_after


def trained(seed: int = 0) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    model[0].requires_grad_(False)  # frozen parts are not checkpointed
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.1)
    for _ in range(3):
        model(torch.randn(5, 4)).square().mean().backward()
        optimizer.step()
        optimizer.zero_grad()
    return model, optimizer


def state() -> TrainState:
    s = TrainState()
    for i in range(3):
        s.record(1.0 / (i + 1), 5, 10, 0.1 * i)
    return s


def test_round_trip_restores_weights_optimizer_and_rng(tmp_path):
    model, optimizer = trained()
    save_checkpoint(tmp_path, model, optimizer, state())
    draw = torch.rand(3)  # the RNG state was saved before this draw
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    fresh, fresh_opt = trained(seed=1)
    restored = load_checkpoint(tmp_path, fresh, fresh_opt)
    assert restored == state()
    assert torch.equal(fresh[1].weight, saved["1.weight"]) and torch.equal(fresh[1].bias, saved["1.bias"])
    assert not torch.equal(fresh[0].weight, saved["0.weight"])  # only trainable tensors are stored
    assert torch.equal(torch.rand(3), draw)
    a, b = optimizer.state_dict()["state"], fresh_opt.state_dict()["state"]
    assert a.keys() == b.keys() and all(torch.equal(a[k]["exp_avg"], b[k]["exp_avg"]) for k in a)


def test_a_crash_during_the_swap_falls_back_to_the_previous_checkpoint(tmp_path):
    model, optimizer = trained()
    save_checkpoint(tmp_path, model, optimizer, state())
    # killed after moving the old checkpoint aside, before the new one was renamed into place
    os.replace(tmp_path / "checkpoint", tmp_path / ".checkpoint.old")
    (tmp_path / ".checkpoint.tmp").mkdir()
    (tmp_path / ".checkpoint.tmp" / "trainable.safetensors").write_bytes(b"half")
    fresh, fresh_opt = trained(seed=1)
    assert load_checkpoint(tmp_path, fresh, fresh_opt).step == 3
    assert torch.equal(fresh[1].weight, model[1].weight)
    save_checkpoint(tmp_path, fresh, fresh_opt, state())  # the next save cleans up
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def test_no_checkpoint_means_a_fresh_start(tmp_path):
    model, optimizer = trained()
    assert load_checkpoint(tmp_path, model, optimizer) is None


def test_resume_drops_metric_rows_after_the_checkpoint_and_a_torn_line(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    rows = [{"step": i, "loss": 1.0 / i} for i in range(1, 6)]
    metrics.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 6, "lo')
    _truncate_after(metrics, 3)
    assert jsonl_rows(metrics) == rows[:3] and metrics.read_text().endswith("\n")
    _truncate_after(metrics, 0)
    assert metrics.read_text() == ""
