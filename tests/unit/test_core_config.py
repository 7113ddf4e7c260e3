"""The one configuration system: YAML reading, dotted and by-name merging, validation errors that say where."""

from __future__ import annotations

import pytest

from tunebench.bench.config import load_config as load_bench_config
from tunebench.core.config import merge, override, read_yaml
from tunebench.core.errors import UserError
from tunebench.strategies.config import load_config as load_strategies_config
from tunebench.train.recipes import get_recipe


def test_named_list_items_merge_by_name_and_others_replace():
    base = {"arms": [{"name": "a", "lr": 1}, {"name": "b", "lr": 2}], "seeds": [0], "opt": {"x": 1, "y": 2}}
    out = merge(base, {"arms.b.lr": 5, "seeds": [1, 2], "opt": {"y": 3}})
    assert out == {"arms": [{"name": "a", "lr": 1}, {"name": "b", "lr": 5}], "seeds": [1, 2], "opt": {"x": 1, "y": 3}}
    assert base["arms"][1]["lr"] == 2  # the base is not mutated
    with pytest.raises(UserError) as err:
        merge(base, {"arms": {"c": {"lr": 1}}})
    assert err.value.where == "arms.c" and "there are: a, b" in err.value.message


def test_bench_arms_are_addressed_by_name_and_errors_name_the_arm(tmp_path):
    path = tmp_path / "bench.yaml"
    path.write_text("arms:\n  minigpt4: {overrides: {stage2: {optim: {lr: 5.0e-4}}}}\n")
    cfg = load_bench_config("smoke", path)
    assert [a.overrides.get("stage2") for a in cfg.arms] == [None, {"optim": {"lr": 5e-4}}]
    path.write_text("arms:\n  llava: {ablation: perhaps}\n")
    with pytest.raises(UserError) as err:
        load_bench_config("smoke", path)
    assert err.value.where == f"{path}: arms.llava.ablation" and "cannot read 'perhaps'" in err.value.message


@pytest.mark.parametrize(("text", "message"), [
    ("- a\n", "config must be a mapping"), ("a: [\n", "invalid YAML"), (b"\xff\xfe", "cannot read config file"),
])
def test_unreadable_yaml_is_one_line(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(UserError) as err:
        read_yaml(path)
    assert message in err.value.one_line() and "\n" not in err.value.one_line()


def test_every_config_family_reports_an_unknown_key_the_same_way(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seeds_typo: 1\n")
    lines = []
    for load in (lambda: load_bench_config("smoke", path), lambda: load_strategies_config("smoke", path),
                 lambda: override(get_recipe("minigpt4"), read_yaml(path), where=f"{path}: ")):
        with pytest.raises(UserError) as err:
            load()
        lines.append(err.value.one_line())
    assert lines == [f"{path}: seeds_typo: unknown config field"] * 3
