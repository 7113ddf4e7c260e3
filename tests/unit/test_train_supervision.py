"""The trainer supervises only assistant answer tokens, and refuses to start when nothing would be learned."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from tests.helpers.tiny_world import make_world, tiny_recipe, tiny_recipe_config
from tests.tiny_vlm import tiny_parts
from tunebench.cli import main
from tunebench.components import load_vision_tower
from tunebench.core.io import read_json
from tunebench.models.batching import pad_batch
from tunebench.models.prompting import IGNORE_INDEX
from tunebench.train.loop import supervised_units
from tunebench.train.pipeline import load_train_data
from tunebench.train.stage import build_examples, prepare_model, run_stage

# Shows earlier assistant turns only when they are the last message (as templates that strip old reasoning
# do): every prefix renders fine, but the whole conversation is not their continuation.
FORGETFUL_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['role'] == 'user' or loop.last %}{{ m['content'] }}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


pytestmark = pytest.mark.usefixtures("one_thread_per_module")


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("supervision")
    make_world(root / "world")
    tiny_parts(root / "parts")
    return root


@pytest.fixture(autouse=True)
def cache(root, monkeypatch):
    monkeypatch.setenv("TUNEBENCH_CACHE", str(root / "cache"))


def stage_of(recipe, name: str):
    return next(s for s in recipe.stages if s.name == name)


@pytest.mark.parametrize(("recipe_name", "stage_name"), [
    ("llava-1.5", "stage1"), ("llava-1.5", "stage2"), ("minigpt4", "stage1"), ("minigpt4", "stage2")])
def test_only_the_assistant_answers_are_supervised(root, recipe_name, stage_name):
    recipe = tiny_recipe(root / "parts", recipe_name, **{"model.max_length": 512})  # the tiny LLM's positions
    stage = stage_of(recipe, stage_name)
    model = prepare_model(recipe, stage, load_vision_tower(recipe.model.vision), None, None, seed=0)
    records = load_train_data(root / "world").for_stage(stage.data)
    examples = build_examples(model, records)
    assert len(examples) == len(records) > 0
    tok = model.tokenizer
    truncated = 0
    for record, ex in zip(records, examples, strict=True):
        answers = [t.text for t in record.turns if t.role == "gpt"]
        expected = [i for a in answers for i in tok(a + tok.eos_token, add_special_tokens=False)["input_ids"]]
        supervised = [t for t, label in zip(ex["input_ids"], ex["labels"], strict=True) if label != IGNORE_INDEX]
        assert all(label in (IGNORE_INDEX, t) for t, label in zip(ex["input_ids"], ex["labels"], strict=True))
        if len(ex["input_ids"]) == 512:  # cut at max_length: what is left of the answers, in order
            truncated += 1
            expected = expected[: len(supervised)]
        assert supervised == expected, record.id
        assert ex["labels"][0] == IGNORE_INDEX
    assert truncated <= len(records) // 2
    batch = pad_batch(examples[:4], tok.pad_token_id, "right")
    n = sum(len([lab for lab in ex["labels"] if lab != IGNORE_INDEX]) for ex in examples[:4])
    assert supervised_units(batch) == model.loss(batch).n_tokens == n  # what the loss averages over


def train_argv(root: Path, out: Path, *extra: str) -> list[str]:
    config = tiny_recipe_config(root / "config.yaml", root / "parts", {"stage1": {"batch_size": 2, "max_steps": 2}})
    return ["train", "--recipe", "llava-1.5", "--shapes", str(root / "world"), "--config", str(config),
            "--out", str(out), *extra]


def refused(argv: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code, capsys.readouterr().err


def test_refuses_to_start_when_truncation_leaves_no_answer_token(root, tmp_path, capsys):
    # max_length 17 keeps only the BOS token and the 16 image tokens of each caption record
    code, err = refused(train_argv(root, tmp_path / "run", "--stage", "stage1", "--set", "model.max_length=17"),
                        capsys)
    assert code == 2
    assert "no answer token is supervised" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2  # one message (rich may wrap it once)
    assert not (tmp_path / "run" / "stage1" / "metrics.jsonl").exists()
    assert not (tmp_path / "run" / "stage1" / "checkpoint").exists()


def test_refuses_a_chat_template_that_disagrees_with_the_masking(root, tmp_path, capsys):
    llm = tmp_path / "forgetful-llm"
    shutil.copytree(root / "parts" / "llm", llm)
    (llm / "chat_template.jinja").write_text(FORGETFUL_TEMPLATE)
    code, err = refused(train_argv(root, tmp_path / "run", "--stage", "stage2", "--set", f"model.llm={llm}"), capsys)
    assert code == 1
    assert "tokenization mismatch" in err and "Traceback" not in err
    assert not (tmp_path / "run" / "stage2" / "metrics.jsonl").exists()


def test_records_whose_answers_are_cut_off_are_dropped_not_fatal(root, tmp_path, caplog):
    # max_length 80 cuts every answer of most multi-turn records; batch 1 would otherwise meet a step
    # with nothing to average over
    recipe = tiny_recipe(root / "parts", **{"model.max_length": 80, "stage2.optim.batch_size": 1,
                                            "stage2.optim.precision": "fp32"})
    stage = stage_of(recipe, "stage2")
    records = load_train_data(root / "world").instructions
    with caplog.at_level(logging.WARNING, logger="tunebench.train.stage"):
        summary = run_stage(recipe, stage, records, tmp_path / "run", load_vision_tower(recipe.model.vision))
    kept = summary["train"]["samples"]
    assert 0 < kept < len(records)
    assert f"dropped {len(records) - kept} of {len(records)} records" in caplog.text


def test_a_fine_tune_from_a_run_trains_at_the_settings_that_run_used(root, tmp_path, capsys):
    first = tmp_path / "first"
    main(train_argv(root, first, "--set", "stage2.optim.lr=3e-4", "--set", "stage2.connector_lr=5e-3",
                    "--set", "stage2.optim.max_steps=2", "--set", "stage2.optim.batch_size=2"))
    capsys.readouterr()

    def fine_tune(out: Path, *extra: str) -> dict:
        main(train_argv(root, out, "--init", str(first / "stage2"), "--stage", "stage2", *extra))
        return read_json(out / "stage2" / "train_summary.json")["stage"]

    inherited = fine_tune(tmp_path / "inherit")
    said = capsys.readouterr().out
    assert inherited["optim"]["lr"] == 3e-4 and inherited["connector_lr"] == 5e-3  # not the preset's 2e-5 and none
    assert inherited["optim"]["max_steps"] == 2
    assert "stage2.optim.lr 0.0003" in said and "stage2.connector_lr 0.005" in said
    overridden = fine_tune(tmp_path / "override", "--set", "stage2.optim.lr=1e-5")
    assert overridden["optim"]["lr"] == 1e-5 and overridden["connector_lr"] == 5e-3  # the user's --set wins

    code, err = refused(["train", "--recipe", "minigpt4", "--shapes", str(root / "world"), "--init",
                         str(first / "stage2"), "--stage", "stage2", "--out", str(tmp_path / "other")], capsys)
    assert code == 2 and "trained as design llava" in err and "Traceback" not in err
