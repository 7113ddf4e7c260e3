"""`tunebench eval`: results.json in lmms-eval's layout, --limit, and resume after kill -9 without duplicates."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.helpers.procs import cli, jsonl_rows, kill_when, run, start, subprocess_env, tail
from tests.helpers.tiny_world import make_world, tiny_eval_vlm
from tunebench.cli import main
from tunebench.core.device import resolve_precision
from tunebench.core.io import read_json
from tunebench.data.records import Turn
from tunebench.evaluation.runner import evaluate
from tunebench.evaluation.tasks import get_task, load_task_records
from tunebench.models.checkpoint import load_run, save_run

pytestmark = pytest.mark.usefixtures("one_thread_per_module")


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("eval")
    make_world(root / "world", train=2, test=10)
    mp = pytest.MonkeyPatch()
    mp.setenv("TUNEBENCH_CACHE", str(root / "cache"))
    save_run(tiny_eval_vlm(root / "parts", "llava", seed=1), root / "run", llm_trained=True)
    mp.undo()
    return root


@pytest.fixture(autouse=True)
def cache(root, monkeypatch):
    monkeypatch.setenv("TUNEBENCH_CACHE", str(root / "cache"))


def test_results_json_follows_the_lmms_eval_layout(root, tmp_path):
    task = get_task("pope")
    records = load_task_records(task, [root / "world"])
    model = load_run(root / "run")
    results = evaluate(model, task, records, tmp_path, batch_size=8, scoring="likelihood", model_name="tiny")
    assert read_json(tmp_path / "results.json") == results
    head = results["results"]["pope"]
    assert head["alias"] == "pope"
    assert {"mean_f1,none", "mean_accuracy,none"} <= set(head) and all(
        isinstance(v, float | int) for k, v in head.items() if k.endswith(",none"))
    assert results["configs"]["pope"]["scoring"] == "likelihood"
    assert results["configs"]["pope"]["generation_kwargs"]["do_sample"] is False
    assert results["n-samples"]["pope"] == {"original": len(records), "effective": len(records)}
    assert results["headline"]["name"] == "pope_mean_f1"
    assert results["headline"]["value"] == pytest.approx(head["mean_f1,none"])
    assert results["config"] == {"model": "tiny", "batch_size": 8, "scoring": "likelihood",
                                 **resolve_precision("auto", model.device).record()}
    hashes = results["hashes"]
    assert {"data", "connector", "llm", "vision"} <= set(hashes)
    assert all(re.fullmatch(r"[0-9a-f]{16}", hashes[k]) for k in ("data", "connector", "llm"))
    timing = results["timing"]
    assert timing["samples_predicted"] == len(records) and timing["predict_s"] > 0 and timing["samples_per_s"] > 0
    assert {"versions", "platform", "created_utc"} <= set(results)
    rows = jsonl_rows(tmp_path / "samples.jsonl")
    assert [r["id"] for r in rows] != [] and sorted(r["id"] for r in rows) == sorted(r.id for r in records)
    assert {"id", "image", "prompt", "raw", "parsed", "answers", "score", "meta"} <= set(rows[0])
    assert all(r["raw"] in ("Yes", "No") for r in rows)


def test_limit_evaluates_the_first_n_samples(root, tmp_path):
    main(["eval", str(root / "run"), "--task", "vqav2", "--data", str(root / "world"), "--out", str(tmp_path),
          "--limit", "5", "--batch-size", "4"])
    results = read_json(tmp_path / "results.json")
    first = [r.id for r in load_task_records(get_task("vqav2"), [root / "world"])[:5]]
    assert results["n-samples"]["vqav2"] == {"original": 5, "effective": 5}
    assert sorted(r["id"] for r in jsonl_rows(tmp_path / "samples.jsonl")) == sorted(first)


def test_resume_drops_a_torn_last_line_and_predicts_that_sample_again(root, tmp_path):
    task = get_task("pope")
    records = load_task_records(task, [root / "world"])[:12]
    model = load_run(root / "run")
    full = evaluate(model, task, records, tmp_path, batch_size=4)
    samples = tmp_path / "samples.jsonl"
    lines = samples.read_text().splitlines(keepends=True)
    samples.write_text("".join(lines[:5]) + lines[5][: len(lines[5]) // 2])  # a crash in the middle of a write
    again = evaluate(model, task, records, tmp_path, batch_size=4, resume=True)
    ids = [r["id"] for r in jsonl_rows(samples)]
    assert len(ids) == len(set(ids)) == len(records)
    assert again["timing"]["samples_predicted"] == len(records) - 5
    assert again["results"] == full["results"]


def test_resume_never_reuses_predictions_of_another_model_or_scoring(root, tmp_path, caplog):
    task = get_task("pope")
    records = load_task_records(task, [root / "world"])[:4]
    model = load_run(root / "run")
    evaluate(model, task, records, tmp_path, batch_size=4)
    assert evaluate(model, task, records, tmp_path, resume=True)["timing"]["samples_predicted"] == 0
    with caplog.at_level(logging.WARNING, logger="tunebench.evaluation.runner"):
        other = evaluate(model, task, records, tmp_path, scoring="likelihood", resume=True)
    assert other["timing"]["samples_predicted"] == len(records) and "another model, task or scoring" in caplog.text
    model.weights_hashes = {**model.weights_hashes, "connector": "0" * 16}
    again = evaluate(model, task, records, tmp_path, scoring="likelihood", resume=True)
    assert again["timing"]["samples_predicted"] == len(records)
    assert len(jsonl_rows(tmp_path / "samples.jsonl")) == len(records)


def test_resume_predicts_again_a_sample_whose_question_changed_under_the_same_id(root, tmp_path, caplog):
    task = get_task("pope")
    records = load_task_records(task, [root / "world"])[:6]
    model = load_run(root / "run")
    evaluate(model, task, records, tmp_path, batch_size=4)
    edited = [*records[:2], replace(records[2], turns=(Turn("human", "Is there a purple hexagon in the image?"),)),
              *records[3:]]
    with caplog.at_level(logging.WARNING, logger="tunebench.evaluation.runner"):
        again = evaluate(model, task, edited, tmp_path, batch_size=4, resume=True)
    assert again["timing"]["samples_predicted"] == 1 and "1 sample(s)" in caplog.text
    rows = {r["id"]: r for r in jsonl_rows(tmp_path / "samples.jsonl")}
    assert len(rows) == len(jsonl_rows(tmp_path / "samples.jsonl")) == len(records)  # listed once each
    assert "purple hexagon" in rows[records[2].id]["prompt"]
    assert evaluate(model, task, edited, tmp_path, resume=True)["timing"]["samples_predicted"] == 0


def test_resume_predicts_again_samples_whose_image_changed_or_that_carry_no_content_hash(root, tmp_path, caplog):
    task = get_task("pope")
    world = tmp_path / "world"
    shutil.copytree(root / "world", world)
    records = load_task_records(task, [world])[:6]
    model = load_run(root / "run")
    evaluate(model, task, records, tmp_path / "out", batch_size=4)
    image = Path(records[0].image)
    image.write_bytes(image.read_bytes() + b"\0")  # same path, other bytes
    on_image = sum(r.image == records[0].image for r in records)
    assert 0 < on_image < len(records)
    assert evaluate(model, task, records, tmp_path / "out", resume=True)["timing"]["samples_predicted"] == on_image
    samples = tmp_path / "out" / "samples.jsonl"
    rows = jsonl_rows(samples)
    samples.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "content"}) + "\n" for r in rows))
    with caplog.at_level(logging.WARNING, logger="tunebench.evaluation.runner"):
        again = evaluate(model, task, records, tmp_path / "out", resume=True)
    assert again["timing"]["samples_predicted"] == len(records) and "not predicted for this question" in caplog.text


def eval_cmd(root: Path, out: Path, batch_size: int, *extra: str) -> list[str]:
    return cli(["eval", root / "run", "--task", "pope", "--data", root / "world", "--out", out,
                "--batch-size", str(batch_size), *extra])


def test_resume_after_sigkill_matches_an_uninterrupted_run(root):
    env = subprocess_env(root / "cache")
    reference, killed = root / "eval-reference", root / "eval-killed"
    ref = start(eval_cmd(root, reference, 16), env, root / "eval-reference.log")
    proc = start(eval_cmd(root, killed, 2), env, root / "eval-killed-1.log")
    samples = killed / "samples.jsonl"
    kill_when(proc, lambda: len(jsonl_rows(samples)) >= 10, root / "eval-killed-1.log")
    assert ref.wait(timeout=120) == 0, tail(root / "eval-reference.log")
    before = jsonl_rows(samples)
    total = len(jsonl_rows(reference / "samples.jsonl"))
    assert 10 <= len(before) < total and not (killed / "results.json").exists()

    run(eval_cmd(root, killed, 2, "--resume"), env, root / "eval-killed-2.log")
    rows = jsonl_rows(samples)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == total  # every sample once
    assert rows[: len(before)] == before  # kept, not recomputed
    want, got = read_json(reference / "results.json"), read_json(killed / "results.json")
    assert got["results"] == want["results"] and got["summary"] == want["summary"]
    assert got["timing"]["samples_predicted"] == total - len(before)
    by_id = {r["id"]: r for r in jsonl_rows(reference / "samples.jsonl")}
    assert all(r["raw"] == by_id[r["id"]]["raw"] for r in rows)


@pytest.mark.parametrize("damage", ["deleted", "not an image"])
def test_a_missing_or_unreadable_image_is_one_line_naming_file_and_record(root, tmp_path, damage):
    world = tmp_path / "world"
    shutil.copytree(root / "world", world)
    records = load_task_records(get_task("vqav2"), [world])
    victim = Path(records[0].image)
    victim.unlink() if damage == "deleted" else victim.write_bytes(b"not a png")
    first = records[0]  # the first record that uses the image is named
    proc = subprocess.run(cli(["eval", root / "run", "--task", "vqav2", "--data", world, "--out", tmp_path / "out"]),
                          capture_output=True, text=True, env=subprocess_env(root / "cache"))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    # a deleted file's record names it with the loader's default suffix (.jpg): stem and record are what count
    assert lines[0].startswith(f"error: record {first.id}: {victim.with_suffix('')}") and (
        "not found" in lines[0] if damage == "deleted" else "cannot decode" in lines[0])
    assert not (tmp_path / "out").exists()  # nothing written before the check


def test_two_evals_on_one_out_lose_nothing(root, capsys):
    """While one eval writes a folder, a second on the same --out is refused naming it; once it is done, another
    task into that folder is refused too, since it would replace the results there."""
    out = root / "eval-shared"
    first = start(eval_cmd(root, out, 1), subprocess_env(root / "cache"), root / "eval-shared.log")
    deadline = time.monotonic() + 60
    while not (out / "samples.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # the first eval holds the folder and has begun writing
    os.kill(first.pid, signal.SIGSTOP)  # paused mid-run, however fast this machine predicts
    try:
        for task in ("pope", "gqa"):
            with pytest.raises(SystemExit) as exit_info:
                main(["eval", str(root / "run"), "--task", task, "--data", str(root / "world"), "--out", str(out)])
            err = capsys.readouterr().err.strip()
            assert exit_info.value.code == 1 and err.startswith(f"error: {out}: in use by process {first.pid} ("), err
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert first.wait(timeout=120) == 0, tail(root / "eval-shared.log")
    total = len(load_task_records(get_task("pope"), [root / "world"]))
    rows = jsonl_rows(out / "samples.jsonl")
    assert len({r["id"] for r in rows}) == len(rows) == total  # every sample once
    pope = read_json(out / "results.json")
    assert list(pope["results"]) == ["pope"] and pope["n-samples"]["pope"]["effective"] == total

    with pytest.raises(SystemExit) as exit_info:
        main(["eval", str(root / "run"), "--task", "gqa", "--data", str(root / "world"), "--out", str(out)])
    assert exit_info.value.code == 2 and "holds the results of task pope" in capsys.readouterr().err
    assert read_json(out / "results.json") == pope and jsonl_rows(out / "samples.jsonl") == rows
