"""The LLM's last layers at their own rate: which parameters the group holds, and that only they move when the
rest of the LLM's rate is zero."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.tiny_world import make_world, tiny_recipe
from tunebench.components import load_vision_tower
from tunebench.core.errors import UserError
from tunebench.models.batching import pad_batch
from tunebench.train.loop import OptimConfig, train
from tunebench.train.pipeline import load_train_data
from tunebench.train.stage import build_examples, prepare_model, select_trainable

pytestmark = pytest.mark.usefixtures("one_thread_per_module")


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("top_layers")
    make_world(root / "world", train=6)
    return root


@pytest.fixture(autouse=True)
def cache(root, monkeypatch):
    monkeypatch.setenv("TUNEBENCH_CACHE", str(root / "cache"))


def stage2_model(root: Path, **stage2):
    recipe = tiny_recipe(root / "parts", stage2=stage2)
    stage = recipe.stages[1]
    return prepare_model(recipe, stage, load_vision_tower(recipe.model.vision), None, None, seed=0), stage


def test_the_top_group_holds_the_last_layers_and_the_final_norm_and_nothing_twice(root):
    model, stage = stage2_model(root, top_layers=1, top_layers_lr=5e-3)
    _connector, rest, top = select_trainable(model, stage)
    decoder = model.llm.get_decoder()
    assert top["lr"] == 5e-3 and rest["lr"] == stage.optim.lr
    expected = [*decoder.layers[-1].parameters(), *decoder.norm.parameters()]
    assert [id(p) for p in top["params"]] == [id(p) for p in expected]
    in_groups = [id(p) for p in rest["params"] + top["params"]]
    assert sorted(in_groups) == sorted(id(p) for p in model.llm.parameters())  # each LLM parameter exactly once


def test_with_the_base_rate_at_zero_only_the_top_layers_change(root):
    model, stage = stage2_model(root, top_layers=1, top_layers_lr=1e-2)
    groups = select_trainable(model, stage)
    groups[1]["lr"] = 0.0
    decoder = model.llm.get_decoder()
    before = {n: p.detach().clone() for n, p in decoder.named_parameters()}
    examples = build_examples(model, load_train_data(root / "world").instructions)
    optim = OptimConfig(lr=0.0, warmup_ratio=0.0, batch_size=2, precision="fp32", max_steps=2, weight_decay=0.0)
    train(model, groups, examples, lambda items: pad_batch(items, model.tokenizer.pad_token_id, "right"),
          lambda m, b: m(b), optim)
    last = f"layers.{len(decoder.layers) - 1}."
    changed = {n for n, p in decoder.named_parameters() if not p.detach().equal(before[n])}
    assert changed and all(n.startswith(last) or n.startswith("norm.") for n in changed)


@pytest.mark.parametrize("stage2, message", [
    ({"top_layers": 2}, "go together"),
    ({"top_layers_lr": 1e-3}, "go together"),
    ({"top_layers": 1, "top_layers_lr": 1e-3, "train": ["connector"]}, "trains 'llm'"),
])
def test_an_incomplete_setting_is_refused_with_the_field_named(root, stage2, message):
    with pytest.raises(UserError, match=message) as caught:
        tiny_recipe(root / "parts", stage2=stage2)
    assert caught.value.where == "stage2.top_layers"


def test_more_layers_than_the_llm_has_is_refused(root):
    model, stage = stage2_model(root, top_layers=99, top_layers_lr=1e-3)
    with pytest.raises(UserError, match="decoder layers, not 99"):
        select_trainable(model, stage)
