"""A frozen Q-Former's cached outputs are exact: computed without dropout, whatever the RNG state or the mode the
model was built in, so that the same run trains on the same features wherever it runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers.tiny_world import make_world, tiny_recipe
from tunebench.components import load_vision_tower
from tunebench.models.features import frozen_features_for, tower_features
from tunebench.train.pipeline import load_train_data
from tunebench.train.stage import prepare_model

pytestmark = pytest.mark.usefixtures("one_thread_per_module")


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("frozen_features")
    make_world(root / "world", train=4)
    return root


def stage1_model(root: Path):
    """MiniGPT-4 as a training stage builds it, before any train() or eval() call."""
    recipe = tiny_recipe(root / "parts", "minigpt4")
    return prepare_model(recipe, recipe.stages[0], load_vision_tower(recipe.model.vision), None, None, seed=0)


def test_cached_qformer_outputs_do_not_depend_on_the_rng_and_match_eval_mode(root, monkeypatch):
    model = stage1_model(root)
    assert model.connector.qformer.hf_config.hidden_dropout_prob > 0  # dropout would act if the mode were wrong
    paths = list(dict.fromkeys(r.image for r in load_train_data(root / "world").captions))
    computed = []
    for run in range(2):  # two empty caches, two RNG states: two independent computations
        monkeypatch.setenv("TUNEBENCH_CACHE", str(root / f"cache{run}"))
        torch.manual_seed(run)
        computed.append(frozen_features_for(model, paths))
    assert torch.equal(computed[0], computed[1])
    qformer = model.connector.qformer.eval()
    with torch.inference_mode():
        expected = qformer(tower_features(model.tower, paths))
    torch.testing.assert_close(computed[0], expected, rtol=0, atol=1e-6)


def test_training_mode_keeps_a_frozen_qformer_in_eval_mode(root):
    model = stage1_model(root)
    model.train()
    assert model.connector.proj.training and not model.connector.qformer.training
