"""Recipe presets and overrides: nested keys, dotted paths, stage names, type coercion, clear errors."""

from __future__ import annotations

import pytest

from tunebench.core.config import override, parse_sets
from tunebench.core.errors import UserError
from tunebench.models.config import LoraSpec
from tunebench.train.recipes import RECIPES, get_recipe


def stage(recipe, name):
    return next(s for s in recipe.stages if s.name == name)


def test_presets_follow_the_published_recipes():
    llava, lora, minigpt4 = get_recipe("llava-1.5"), get_recipe("llava-1.5-lora"), get_recipe("minigpt4")
    assert (stage(llava, "stage1").optim.lr, stage(llava, "stage1").train, stage(llava, "stage1").template) == (
        1e-3, ["connector"], "plain")
    assert (stage(llava, "stage2").optim.lr, stage(llava, "stage2").train) == (2e-5, ["connector", "llm"])
    s2 = stage(lora, "stage2")
    assert (s2.lora.r, s2.lora.alpha, s2.optim.lr, s2.connector_lr) == (128, 256, 2e-4, 2e-5)
    assert all(s.train == ["connector"] for s in minigpt4.stages) and minigpt4.pretrain_qformer
    assert (stage(minigpt4, "stage1").optim.weight_decay, stage(minigpt4, "stage1").optim.min_lr_ratio) == (0.05, 0.8)
    with pytest.raises(UserError, match="unknown recipe"):
        get_recipe("llava-2")


def test_dotted_and_nested_overrides_reach_stages_by_name():
    base = get_recipe("llava-1.5")
    out = override(base, {"stage2.optim.lr": "1e-4", "stage1": {"optim": {"batch_size": "4"}},
                                 "model": {"max_length": 64, "qformer": {"num_layers": "2"}}})
    assert stage(out, "stage2").optim.lr == 1e-4 and isinstance(stage(out, "stage2").optim.lr, float)
    assert stage(out, "stage1").optim.batch_size == 4 and isinstance(stage(out, "stage1").optim.batch_size, int)
    assert out.model.max_length == 64 and out.model.qformer.num_layers == 2
    assert stage(out, "stage1").optim.lr == 1e-3  # untouched fields keep the preset
    assert stage(base, "stage2").optim.lr == 2e-5 and base.model.max_length == 384  # the preset is not mutated
    both = override(base, {"stage1.optim.lr": "0.5", "stage1.optim.epochs": "2"})
    assert (stage(both, "stage1").optim.lr, stage(both, "stage1").optim.epochs) == (0.5, 2.0)


def test_cli_strings_become_the_field_type():
    out = override(get_recipe("llava-1.5"), parse_sets([
        "stage1.optim.precision=fp32", "stage1.optim.max_steps=7", "stage2.connector_lr=3e-5",
        "model.qformer.init_from=none", "stage2.train=connector, llm", "stage2.optim.group_by_length=Yes"]))
    s1, s2 = stage(out, "stage1"), stage(out, "stage2")
    assert s1.optim.precision == "fp32" and s2.optim.group_by_length is True
    assert s1.optim.max_steps == 7 and s2.connector_lr == 3e-5  # fields that default to None
    assert out.model.qformer.init_from is None
    assert s2.train == ["connector", "llm"]


def test_a_lora_block_can_be_added_from_strings():
    out = override(get_recipe("llava-1.5"), parse_sets(["stage2.lora.r=8", "stage2.lora.alpha=16"]))
    assert stage(out, "stage2").lora == LoraSpec(r=8, alpha=16)
    with pytest.raises(UserError, match="unknown config field"):
        override(get_recipe("llava-1.5"), {"stage2.lora.rank": "8"})


@pytest.mark.parametrize(("overrides", "where"), [
    ({"stage2.optim.lrr": "1"}, "stages.stage2.optim.lrr"),
    ({"stage3.optim.lr": "1"}, "stage3"),
    ({"model.visoin": "x"}, "model.visoin"),
    ({"stages": {"stage9": {"optim": {"lr": 1}}}}, "stages.stage9"),
])
def test_unknown_fields_and_stages_are_errors_that_say_where(overrides, where):
    with pytest.raises(UserError) as exc:
        override(get_recipe("llava-1.5"), overrides)
    assert exc.value.where == where


@pytest.mark.parametrize(("key", "value", "kind"), [
    ("stage1.optim.batch_size", "four", "integer"), ("stage1.optim.precision", "fp16", "auto"),
    ("stage1.optim.lr", "fast", "number"), ("stage2.train", "connector,vision", "'connector', 'llm' or 'lora'"),
])
def test_values_of_the_wrong_type_are_refused(key, value, kind):
    with pytest.raises(UserError, match=f"cannot read '{value.split(',')[-1]}': Input should be .*{kind}"):
        override(get_recipe("llava-1.5"), {key: value})


def test_parse_sets_needs_key_value_pairs():
    assert parse_sets(["a.b = c=d", "x=1"]) == {"a.b": "c=d", "x": "1"}
    for bad in ("novalue", "=1"):
        with pytest.raises(UserError, match="KEY=VALUE"):
            parse_sets([bad])


def test_every_preset_round_trips_through_to_dict():
    for name in RECIPES:
        recipe = get_recipe(name)
        assert override(recipe, {}).to_dict() == recipe.to_dict()
