"""Q-Former pretraining depends on its seed only, not on what ran before it in the process."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tests.helpers.tiny_world import make_world
from tests.tiny_vlm import TINY_QFORMER, tiny_parts
from tunebench.components import load_vision_tower
from tunebench.train.loop import OptimConfig
from tunebench.train.pipeline import load_train_data
from tunebench.train.qformer_pretrain import PretrainConfig, pretrain_qformer

pytestmark = pytest.mark.usefixtures("one_thread_per_module")


def test_earlier_random_draws_do_not_change_the_pretrained_qformer(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEBENCH_CACHE", str(tmp_path / "cache"))
    world = make_world(tmp_path / "world", train=12, test=2)
    _, clip = tiny_parts(tmp_path / "parts")
    tower = load_vision_tower(str(clip))
    captions = load_train_data(world).captions
    qformer = dataclasses.replace(TINY_QFORMER, vocab_size=30522)  # pretraining tokenizes with MiniLM's vocabulary
    cfg = PretrainConfig(qformer, OptimConfig(lr=1e-3, epochs=1, batch_size=4, precision="fp32", seed=3),
                         holdout_fraction=0.25)
    summaries = []
    for i, earlier in enumerate((1, 1000)):  # a different number of draws from the global generator first
        torch.rand(earlier)
        summaries.append(pretrain_qformer(captions, tower, cfg, tmp_path / f"run{i}"))
    for key in ("heldout_itc_before", "heldout_itc_after", "loss_first", "loss_last"):
        assert summaries[0][key] == summaries[1][key], key
