"""Profiles, YAML overrides and config errors."""

from __future__ import annotations

import pytest

from tunebench.core.errors import UserError
from tunebench.strategies.config import load_config


def test_smoke_profile_is_smaller_than_default():
    smoke, default = load_config("smoke"), load_config("default")
    assert smoke.sizes.knowledge_test < default.sizes.knowledge_test
    assert smoke.world.people < default.world.people and smoke.finetune.max_steps is not None


def test_yaml_overrides_profile_and_flags_override_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("sizes:\n  knowledge_test: 7\nretrieval:\n  top_k: 5\nseed: 3\n")
    cfg = load_config("smoke", path, seed=9, llm=None)
    assert cfg.sizes.knowledge_test == 7 and cfg.sizes.format_test == 4  # the rest of the profile stays
    assert cfg.retrieval.top_k == 5 and cfg.seed == 9 and cfg.llm == "smollm2-135m-instruct"


@pytest.mark.parametrize(("text", "message"), [
    ("sizes:\n  knowledge_tset: 7\n", "c.yaml: sizes.knowledge_tset: unknown config field"),
    ("knowledge_strategies: [zero_shot, telepathy]\n", "c.yaml: knowledge_strategies.1: cannot read 'telepathy'"),
    ("- a list\n", "config must be a mapping"),
    ("a: [unclosed\n", "invalid YAML"),
])
def test_bad_config_is_one_clear_line(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as err:
        load_config("default", path)
    assert message in err.value.one_line() and "\n" not in err.value.one_line()


def test_unknown_profile_and_missing_file(tmp_path):
    with pytest.raises(UserError, match="unknown profile"):
        load_config("huge")
    with pytest.raises(UserError, match="config file not found"):
        load_config("default", tmp_path / "nope.yaml")
