"""The perception ceiling: the images really are replaced by their scene descriptions, in training and in the
questions; scores go through the official metrics; a finished ceiling is not trained again."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.tiny import tiny_tokenizer
from tests.tiny_vlm import tiny_parts
from tunebench.bench import ceiling
from tunebench.bench.config import MAIN_ARMS, BenchConfig, DataSpec
from tunebench.bench.pipeline import prepare_data
from tunebench.core.errors import UserError
from tunebench.data.records import Record, Turn
from tunebench.evaluation.tasks import get_task


def test_in_words_replaces_the_image_placeholder_or_puts_the_text_first():
    turns = [Turn("human", "<image>\nWhat color is the star?"), Turn("gpt", "red"), Turn("human", "And the disk?")]
    assert [t.text for t in ceiling.in_words(turns, "A red star.")] == [
        "A red star.\nWhat color is the star?", "red", "And the disk?"]
    assert ceiling.in_words([Turn("human", "Is it red?")], "A red star.")[0].text == "A red star.\nIs it red?"


class _Oracle:
    """Answers each question with the record's first answer, and keeps the conversations it was asked."""

    def __init__(self, answers: dict[str, str]):
        self.answers, self.asked, self.picked = answers, [], 0

    def answer(self, conversations, max_new_tokens):
        self.asked += conversations
        texts = [self.answers[c[0].text.split("\n")[-2]] for c in conversations]
        return [type("G", (), {"text": t}) for t in texts]

    def pick(self, conversations, options):  # likelihood scoring: a choice among the options, never free text
        self.picked += len(conversations)
        texts = [self.answers[c[0].text.split("\n")[-2]] for c in conversations]
        return [t if t in options else options[0] for t in texts]


def test_score_in_words_asks_about_the_description_and_uses_the_official_metric(tmp_path):
    from tunebench.core.io import sha256_file

    for i in range(3):
        (tmp_path / f"{i}.png").write_bytes(bytes([i]) * 10)
    records = [Record(id=str(i), image=str(tmp_path / f"{i}.png"), turns=(Turn("human", f"What color is shape {i}?"),),
                      answers=(colour,) * 10, task="vqav2", meta={"answer_type": "other"})
               for i, colour in enumerate(["red", "blue", "green"])]
    texts = {sha256_file(r.image): f"Shape {i} is drawn." for i, r in enumerate(records)}
    oracle = _Oracle({r.turns[0].text: r.answers[0] for r in records})
    oracle.answers[records[2].turns[0].text] = "purple"  # one wrong answer: 2 of 3 right
    score = ceiling.score_in_words(oracle, get_task("vqav2"), records, texts)
    assert score["n_questions"] == 3
    assert score["value"] == pytest.approx(200 / 3)
    assert oracle.asked[1][0].text.startswith("Shape 1 is drawn.\nWhat color is shape 1?")
    assert all("<image>" not in c[0].text for c in oracle.asked)
    # With likelihood scoring a task with a closed answer set picks among its candidates ("red" where the
    # oracle would say "green": still 2 of 3); a task without one still generates.
    oracle.answers[records[2].turns[0].text] = "green"
    closed = replace(get_task("vqav2"), candidates=("red", "blue"))
    assert ceiling.score_in_words(oracle, closed, records, texts, scoring="likelihood")["value"] == \
        pytest.approx(200 / 3)
    assert oracle.picked == 3
    assert ceiling.score_in_words(oracle, get_task("vqav2"), records, texts, scoring="likelihood")["value"] == 100
    assert oracle.picked == 3
    (tmp_path / "other.png").write_bytes(b"not a scene of this world")
    with pytest.raises(UserError, match=r"record 0: image .*other\.png"):
        ceiling.score_in_words(oracle, get_task("vqav2"), [replace(records[0], image=str(tmp_path / "other.png"))],
                               texts)


def _tiny_config(tmp_path: Path) -> BenchConfig:
    llm, _ = tiny_parts(tmp_path / "parts")
    return BenchConfig(profile="smoke", llm=str(llm), arms=list(MAIN_ARMS), eval_batch_size=4,
                       data=DataSpec(train_scenes=6, test_scenes=3, captions=6, instructions=6, eval_per_task=4),
                       common_overrides={"stage2": {"optim": {"batch_size": 3}}})


def test_run_ceiling_trains_on_descriptions_then_reuses_the_finished_result(tmp_path, monkeypatch):
    import tunebench.strategies.finetune as finetune  # the ceiling trains through its train_causal_lm

    seen = []
    real_train = finetune.train

    def recording_train(model, groups, examples, collate, *args, **kwargs):
        seen.extend(examples)
        return real_train(model, groups, examples, collate, *args, **kwargs)

    monkeypatch.setattr(finetune, "train", recording_train)
    cfg, out = _tiny_config(tmp_path), tmp_path / "bench"
    results = ceiling.run_ceiling(cfg, out)
    assert results["train"]["steps"] == 2  # 6 records, batch 3, one epoch
    _, evals, _ = prepare_data(cfg, out)  # every question the bench asks, no more
    assert {t: s["n_questions"] for t, s in results["scores"].items()} == {t: len(r) for t, r in evals.items()}
    texts = ceiling.scene_descriptions(out / "data")
    first = "".join(tiny_tokenizer().convert_ids_to_tokens(seen[0]["input_ids"]))
    assert "<image>" not in first
    assert any(text in first for text in texts.values())  # a whole description, where the image was
    assert (out / "ceiling" / "results.json").is_file()

    monkeypatch.setattr(finetune, "train", lambda *a, **k: pytest.fail("a finished ceiling was trained again"))
    assert ceiling.run_ceiling(cfg, out)["scores"] == results["scores"]


def test_a_checkpoint_of_another_ceiling_is_not_resumed(tmp_path):
    from tunebench.core.io import atomic_write_json
    from tunebench.train.checkpointing import CHECKPOINT

    cfg, out = _tiny_config(tmp_path), tmp_path / "bench"
    stale = out / "ceiling" / CHECKPOINT
    stale.mkdir(parents=True)
    atomic_write_json(stale / "state.json", {"step": 1})  # unreadable as this run's: loading it would fail
    atomic_write_json(out / "ceiling" / "key.json", {"key_hash": "another recipe"})
    assert ceiling.run_ceiling(cfg, out)["train"]["steps"] == 2
    assert not stale.exists()


def test_run_ceiling_refuses_data_without_scene_graphs(tmp_path):
    cfg = _tiny_config(tmp_path)
    cfg.data.instructions_file = "mine.json"
    with pytest.raises(UserError, match="scene graphs"):
        ceiling.run_ceiling(cfg, tmp_path / "bench")


def test_ceiling_command_prints_the_table_and_user_errors_are_one_line(tmp_path, capsys):
    import yaml

    from tunebench.cli import main

    llm, _ = tiny_parts(tmp_path / "parts")
    settings = {"llm": str(llm), "eval_batch_size": 4,
                "data": {"train_scenes": 6, "test_scenes": 3, "captions": 6, "instructions": 6, "eval_per_task": 4},
                "common_overrides": {"stage2": {"optim": {"batch_size": 3}}}}
    good = tmp_path / "ceiling.yaml"
    good.write_text(yaml.safe_dump(settings))
    main(["ceiling", "--out", str(tmp_path / "bench"), "--profile", "smoke", "--config", str(good)])
    shown = capsys.readouterr().out
    assert "Perception ceiling" in shown and "pope_mean_f1" in shown and "training: 2 steps" in shown
    assert "95% CI" in shown and "no bench results here yet" in shown

    bad = tmp_path / "mine.yaml"
    bad.write_text(yaml.safe_dump({**settings, "data": {"instructions_file": "mine.json"}}))
    with pytest.raises(SystemExit) as exit_info:
        main(["ceiling", "--out", str(tmp_path / "other"), "--profile", "smoke", "--config", str(bad)])
    assert exit_info.value.code != 0
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and "scene graphs" in errors[0]


def _bench_results(stage2: dict) -> dict:
    """What a bench's results.json holds that the ceiling is matched against."""
    def scores(mean: float) -> dict:
        return {"mean": mean, "low": mean - 5, "high": mean + 5}

    arm = {"label": "LLaVA-1.5", "ablation": False, "tasks": {"vqav2": scores(50.0), "pope": scores(60.0)},
           "config": {"stages": [{"name": "stage1"}, stage2]}}
    other = {"label": "MiniGPT-4", "ablation": False, "tasks": {"vqav2": scores(30.0), "pope": scores(70.0)},
             "config": {"stages": []}}
    return {"data": {"hash": "d1", "blind_baseline": {"vqav2": 40.0, "pope": 66.0}}, "config": {"scoring": "generate"},
            "parts": {"llm": {"name": "smollm2", "weights_hash": "w1"}},
            "arms": {"llava": arm, "minigpt4": other}}


def _stage2(**optim) -> dict:
    return {"name": "stage2", "train": ["connector", "llm"],
            "optim": {"lr": 2e-5, "batch_size": 8, "seed": 0, "checkpoint_every": 25, "log_every": 1, **optim}}


def _write_ceiling(out: Path, **changes) -> None:
    from tunebench.core.io import atomic_write_json

    found = {"arm": "llava", "data_hash": "d1", "llm_hash": "w1", "stage2": _stage2(), "scoring": "generate",
             "train": {"steps": 60, "wall_s": 100.0}, "eval_s": 20.0,
             "scores": {"vqav2": {"value": 60.0, "low": 52.0, "high": 68.0, "n_questions": 12},
                        "pope": {"value": 70.0, "low": 60.0, "high": 80.0, "n_questions": 8}}}
    atomic_write_json(out / "ceiling" / "results.json", {**found, **changes})


def test_the_ceiling_joins_a_report_only_for_the_same_data_llm_recipe_and_scoring(tmp_path):
    results = _bench_results(_stage2())
    assert ceiling.ceiling_for_report(results, tmp_path) is None  # not measured
    _write_ceiling(tmp_path)
    shown = ceiling.ceiling_for_report(results, tmp_path)
    assert shown["steps"] == 60 and shown["tasks"]["vqav2"]["value"] == 60.0
    # VQA-v2: blind 40, ceiling 60 [52, 68]; LLaVA at 50 closes half the gap, MiniGPT-4 at 30 is below blind.
    assert shown["tasks"]["vqav2"]["clearly_above_blind"]
    assert shown["tasks"]["vqav2"]["gap_closed_pct"] == pytest.approx({"llava": 50.0, "minigpt4": -50.0})
    # POPE: blind 66 lies inside the ceiling's interval [60, 80]: not clearly above, so no shares.
    assert not shown["tasks"]["pope"]["clearly_above_blind"] and shown["tasks"]["pope"]["gap_closed_pct"] == {}
    bookkeeping_only = _bench_results(_stage2(checkpoint_every=5, log_every=10))
    assert ceiling.ceiling_for_report(bookkeeping_only, tmp_path) is not None
    for stale in ({"data_hash": "d2"}, {"llm_hash": "w2"}, {"stage2": _stage2(lr=1e-4)}, {"arm": "gone"},
                  {"scoring": "likelihood"}, {"scores": {}}):
        _write_ceiling(tmp_path, **stale)
        assert ceiling.ceiling_for_report(results, tmp_path) is None, stale
    _write_ceiling(tmp_path, llm_hash=None)  # results from before base weights were recorded: no hash either side
    del results["parts"]
    assert ceiling.ceiling_for_report(results, tmp_path) is None


def _shown_ceiling() -> dict:
    def task(value, low, high, blind, above, closed):
        return {"value": value, "low": low, "high": high, "blind": blind, "clearly_above_blind": above,
                "gap_closed_pct": closed}

    return {"arm": "llava", "steps": 60, "tasks": {
        "vqav2": task(60.0, 52.0, 68.0, 40.0, True, {"llava": 50.0, "minigpt4": -50.0}),
        "mme": task(210.0, 204.0, 216.0, 200.0, True, {"llava": 500.0}),
        "pope": task(70.0, 60.0, 80.0, 66.0, False, {})}}


def test_the_verdict_reads_the_ceiling():
    from tunebench.bench.verdict import _ceiling_sentences, verdict

    results = _bench_results(_stage2())
    results["ceiling"] = _shown_ceiling()
    scores, flat, shares = _ceiling_sentences(results)
    assert "60 steps, one seed" in scores and "VQA-v2 60.0 [52.0, 68.0] vs blind 40.0" in scores
    assert "Not clearly above the blind baseline" in flat and "POPE mean F1" in flat and "VQA-v2" not in flat
    assert shares == ("Share of the blind-to-ceiling gap closed where the ceiling is clearly above blind: "
                      "LLaVA-1.5: VQA-v2 50%, MME perception above the ceiling; MiniGPT-4: VQA-v2 below the blind "
                      "baseline.")
    # A bench with one main design still gets the ceiling's lines.
    results.update(comparison={}, tasks=["vqav2", "pope"])
    assert scores in verdict(results)["sentences"]
    del results["ceiling"]
    assert _ceiling_sentences(results) == []
