"""The real lmms-eval, installed in its own environment (`make lmms`), against tunebench.

Through the plugin and the shipped task files, lmms-eval must give every answer `tunebench eval` gives,
generated and scored by likelihood; its scorers and ours must agree on a table of strings except where the
docs say they differ by design. lmms-eval exits 0 after most errors, so its output is read too.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.helpers.tiny_world import make_world, tiny_eval_vlm
from tunebench.evaluation.engine import answer_ids
from tunebench.evaluation.lmms_tasks import BENCHMARKS, lmms_task_names, write_tasks
from tunebench.evaluation.runner import evaluate
from tunebench.evaluation.tasks import get_task, load_task_records
from tunebench.models.checkpoint import load_run, save_run

pytestmark = pytest.mark.integration

LMMS_VENV = Path(os.environ.get("TUNEBENCH_LMMS_VENV", REPO / ".venv-lmms"))
SAMPLES = 8  # per benchmark
# (benchmark, output, first reference) -> why lmms-eval's scorer and tunebench's part; docs/lmms-eval.md.
BY_DESIGN = {
    ("gqa", "left,", "left"): "lmms-eval removes all punctuation; LLaVA's GQA rule only trailing periods",
    ("gqa", "left!", "left"): "lmms-eval removes all punctuation; LLaVA's GQA rule only trailing periods",
    ("gqa", "yes!", "yes"): "lmms-eval removes all punctuation; LLaVA's GQA rule only trailing periods",
    ("gqa", " left ", "left"): "lmms-eval's exact_match does not strip (the bridge strips its answers)",
    ("mme", "y", "yes"): "lmms-eval (Otter's parser) reads a bare y / n; LLaVA's MME rule does not",
    ("mme", "n", "no"): "lmms-eval (Otter's parser) reads a bare y / n; LLaVA's MME rule does not",
    **{("pope", out, ref): "POPE's headline is LLaVA's rule (a 'no' / 'not' word, else yes); lmms-eval's is "
       "exact match, which tunebench reports beside it"
       for out, ref in [("Yes.", "yes"), ("Yes, there is a circle.", "yes"), ("There is a circle.", "yes"),
                        ("y", "yes"), ("", "yes"), ("No.", "no"), ("No, there is not.", "no"),
                        ("not at all", "no")]},
}


@pytest.fixture(scope="module")
def lmms_python() -> Path:
    python = LMMS_VENV / "bin" / "python"
    if not (python.is_file() and (LMMS_VENV / "bin" / "lmms-eval").is_file()):
        pytest.fail(f"no lmms-eval environment at {LMMS_VENV}: run `make lmms` (make test does)")
    return python


def lmms_env(cache: Path) -> dict[str, str]:
    return {**os.environ, "TUNEBENCH_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
            "HF_DATASETS_CACHE": str(cache / "hf-datasets"), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def error_lines(output: str) -> list[str]:
    """What lmms-eval logs when it gives up on a task or a model (it exits 0 all the same)."""
    marks = ("| ERROR", "Traceback (most recent call last)", "Error during evaluation", "not found in available")
    return [line for line in output.splitlines() if any(mark in line for mark in marks)]


def run_lmms_eval(lmms_python: Path, run: Path, tasks: Path, names: list[str], out: Path, cache: Path) -> dict:
    """lmms-eval's own CLI on the task folder; {task: [sample rows in document order]}."""
    cmd = [str(lmms_python.parent / "lmms-eval"), "--model", "tunebench", "--model_args", f"run={run},batch_size=4",
           "--tasks", ",".join(names), "--include_path", str(tasks), "--output_path", str(out), "--log_samples"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=lmms_env(cache), cwd=out.parent)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0 and not error_lines(output), "\n".join(error_lines(output)) or output[-3000:]
    samples = {}
    for name in names:
        (path,) = out.glob(f"**/*_samples_{name}.jsonl")
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        samples[name] = sorted(rows, key=lambda row: row["doc_id"])
    return samples


@pytest.mark.parametrize("design", ["llava", "minigpt4"])
def test_lmms_eval_through_the_plugin_answers_like_tunebench_eval(tmp_path, monkeypatch, lmms_python, design):
    cache = tmp_path / "cache"
    monkeypatch.setenv("TUNEBENCH_CACHE", str(cache))
    world = make_world(tmp_path / "world", train=2, test=6)
    run = tmp_path / "run"
    save_run(tiny_eval_vlm(tmp_path / "parts", design, seed=3), run, llm_trained=True)
    model = load_run(run)
    records = {b: load_task_records(get_task(b), [world])[:SAMPLES] for b in BENCHMARKS}
    ours: dict[str, list[str]] = {}
    for b, rs in records.items():
        task = get_task(b)
        for scoring, name in zip(("generate", "likelihood"), lmms_task_names(b), strict=False):
            evaluate(model, task, rs, tmp_path / "tunebench" / name, batch_size=4, scoring=scoring)
            rows = {row["id"]: row for row in map(json.loads, (tmp_path / "tunebench" / name / "samples.jsonl")
                                                  .read_text().splitlines())}
            ours[name] = [rows[r.id]["raw"] for r in rs]
    names = write_tasks(records, tmp_path / "tasks")
    theirs = run_lmms_eval(lmms_python, run, tmp_path / "tasks", names, tmp_path / "lmms-out", cache)
    candidates = get_task("pope").candidates
    tokens = [len(answer_ids(model, c)) for c in candidates]
    for name in names:
        if name.endswith("_choice"):  # likelihood: lmms-eval's loglikelihood requests, one per candidate
            losses = [[ast.literal_eval(r)[0] for r in row["filtered_resps"]] for row in theirs[name]]
            assert [row["yes_ratio"]["picked"] for row in theirs[name]] == [
                candidates[min(range(2), key=loss.__getitem__)] for loss in losses]  # lmms-eval's argmin
            # tunebench ranks by the summed log p: the mean loss times the candidate's tokens
            got = [candidates[min(range(2), key=lambda i, loss=loss: loss[i] * tokens[i])] for loss in losses]
        else:
            got = [row["filtered_resps"] if isinstance(row["filtered_resps"], str) else row["filtered_resps"][0]
                   for row in theirs[name]]
        assert got == ours[name], name
    # the tiny models are not constant: a bridge that ignored the prompt or image could not pass
    assert len(set(ours["tunebench_vqav2"])) > 2 and len(set(ours["tunebench_pope_choice"])) == 2


def test_lmms_eval_scorers_agree_with_ours_except_where_documented(lmms_python):
    proc = subprocess.run([str(lmms_python), "-m", "tests.helpers.lmms_scorers"], capture_output=True, text=True,
                          timeout=300, cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(proc.stdout)
    differ = {(r["benchmark"], r["output"], r["refs"][0]) for r in rows if r["lmms"] != r["ours"]}
    assert differ == set(BY_DESIGN)
    pope = [r for r in rows if r["benchmark"] == "pope"]
    assert [r["ours_exact"] for r in pope] == [r["lmms"] for r in pope]  # our exact-match rule is lmms-eval's
    docs = (REPO / "docs" / "lmms-eval.md").read_text()
    listed = [out for _, out, _ in BY_DESIGN if out and out == out.strip()]  # the rest are spelled out there
    assert all(f"`{out}`" in docs for out in listed), "docs/lmms-eval.md lists each difference"
