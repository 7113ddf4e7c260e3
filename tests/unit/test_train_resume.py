"""Kill -9 a real `tunebench train` mid-run, rerun it: the loss curve and the weights match a run never killed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.helpers.procs import cli, jsonl_rows, kill_when, run, start, subprocess_env, tail
from tests.helpers.tiny_world import make_world, tiny_recipe_config
from tunebench.core.io import read_json

EPOCHS = 8  # 8 captions, batch 1: 64 optimizer steps, a checkpoint after each
KILL_AT = 12  # steps logged before the kill


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("resume")
    optim = {"batch_size": 1, "epochs": EPOCHS, "checkpoint_every": 1, "warmup_ratio": 0.1, "min_lr_ratio": 0.1}
    config = tiny_recipe_config(root / "config.yaml", root / "parts", {"stage1": optim})
    return {"root": root, "world": make_world(root / "world"), "config": config, "env": subprocess_env(root / "cache")}


def checkpoint_step(run_dir: Path) -> int:
    """Step of the checkpoint a resume will load (a kill during the swap leaves `.checkpoint.old`)."""
    for folder in (run_dir / "checkpoint", run_dir / ".checkpoint.old"):
        if (folder / "state.json").is_file():
            return read_json(folder / "state.json")["step"]
    return 0


def train_cmd(setup: dict, out: Path, *extra: str) -> list[str]:
    return cli(["train", "--recipe", "llava-1.5", "--shapes", setup["world"], "--config", setup["config"],
                "--stage", "stage1", "--out", out, "--seed", "3", *extra])


def test_resume_after_sigkill_matches_uninterrupted_run(setup):
    root = setup["root"]
    reference, killed = root / "reference", root / "killed"
    ref_proc = start(train_cmd(setup, reference, "--keep-checkpoints"), setup["env"], root / "reference.log")
    proc = start(train_cmd(setup, killed), setup["env"], root / "killed-1.log")
    metrics = killed / "stage1" / "metrics.jsonl"
    kill_when(proc, lambda: len(jsonl_rows(metrics)) >= KILL_AT, root / "killed-1.log")
    assert ref_proc.wait(timeout=120) == 0, tail(root / "reference.log")

    assert not (killed / "stage1" / "train_summary.json").exists()
    before = jsonl_rows(metrics)
    assert KILL_AT <= len(before) < EPOCHS * 8
    saved = checkpoint_step(killed / "stage1")
    assert 1 <= saved <= len(before)
    run(train_cmd(setup, killed), setup["env"], root / "killed-2.log")  # resume is the default

    expected = jsonl_rows(reference / "stage1" / "metrics.jsonl")
    got = jsonl_rows(metrics)
    assert [r["step"] for r in expected] == list(range(1, EPOCHS * 8 + 1))
    assert [r["step"] for r in got] == [r["step"] for r in expected]  # no step lost or logged twice
    for a, b in zip(got, expected, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-6, rel=0)
        assert a["lr"] == pytest.approx(b["lr"], abs=1e-12) and a["tokens"] == b["tokens"]
    assert expected[-1]["loss"] != expected[0]["loss"]  # it trained
    assert got[:saved] == before[:saved]  # resumed from the checkpoint: rows up to it (wall times too) kept

    want = load_file(str(reference / "stage1" / "connector.safetensors"))
    have = load_file(str(killed / "stage1" / "connector.safetensors"))
    assert want.keys() == have.keys()
    for name in want:
        assert torch.equal(want[name], have[name]), name
    # the finished stage's resumable checkpoint goes once its weights are saved, unless asked to keep it
    assert checkpoint_step(reference / "stage1") >= EPOCHS * 8 - 1
    assert not any(p.name.endswith("checkpoint") or ".checkpoint" in p.name for p in (killed / "stage1").iterdir())
    assert not (killed / ".tunebench.lock").exists()  # released
