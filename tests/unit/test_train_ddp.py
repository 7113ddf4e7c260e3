"""Two processes (torchrun, gloo on CPU) train exactly like one process at the same global batch."""

from __future__ import annotations

import sys

import pytest
import torch
from safetensors.torch import load_file

from tests.helpers.procs import cli, free_port, jsonl_rows, run, start, subprocess_env, tail
from tests.helpers.tiny_world import make_world, tiny_recipe_config

PER_PROCESS = 2
STEPS = 6


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("ddp")


def config(root, name: str, batch_size: int):
    # grad_accum 2 with captions of different lengths: ranks and micro-batches hold unequal token counts,
    # so any weighting other than "mean over all supervised tokens of the step" changes the update.
    optim = {"batch_size": batch_size, "grad_accum": 2, "epochs": STEPS, "max_steps": STEPS, "precision": "fp32",
             "lr": 0.01, "warmup_ratio": 0.0, "group_by_length": False, "max_grad_norm": 0.0}
    return tiny_recipe_config(root / f"{name}.yaml", root / "parts", {"stage1": optim})


def test_two_processes_match_one_at_the_same_global_batch(root):
    world = make_world(root / "world")
    env = subprocess_env(root / "cache")
    train = ["train", "--recipe", "llava-1.5", "--shapes", world, "--stage", "stage1", "--seed", "1"]
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
              "--master_port", str(free_port()), "-m", "tunebench.cli"]
    one = start(cli([*train, "--config", config(root, "one", 2 * PER_PROCESS), "--out", root / "one"]), env,
                root / "one.log")
    run([*launch, *map(str, [*train, "--config", config(root, "two", PER_PROCESS), "--out", root / "two"])], env,
        root / "two.log", timeout=180)
    assert one.wait(timeout=120) == 0, tail(root / "one.log")

    single = jsonl_rows(root / "one" / "stage1" / "metrics.jsonl")
    double = jsonl_rows(root / "two" / "stage1" / "metrics.jsonl")
    assert [r["step"] for r in single] == [r["step"] for r in double] == list(range(1, STEPS + 1))
    for a, b in zip(single, double, strict=True):
        assert (a["samples"], a["tokens"]) == (b["samples"], b["tokens"])  # same samples per step
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4)
    assert single[-1]["loss"] != single[0]["loss"]
    want = load_file(str(root / "one" / "stage1" / "connector.safetensors"))
    have = load_file(str(root / "two" / "stage1" / "connector.safetensors"))
    for name, tensor in want.items():
        torch.testing.assert_close(have[name], tensor, rtol=1e-4, atol=1e-6)
