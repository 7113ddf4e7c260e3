"""A user's own data, fine-tuned from a bench run: the README's custom-data commands on a set the Shapes renderer
did not draw (one flat shape on a plain background, tests/helpers/single_object.py), scored on held-out images.

It needs a finished bench run to start from, which `make test` does not train: set TUNEBENCH_BENCH_RUN to a
stage-2 run folder (e.g. bench-out/arms/llava-s0/stage2) to run it. It takes as long as that run's stage-2 recipe
takes over 700 records.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.procs import cli, jsonl_rows, run, subprocess_env
from tests.helpers.single_object import write_set

pytestmark = pytest.mark.integration
RUN = os.environ.get("TUNEBENCH_BENCH_RUN")


@pytest.mark.skipif(not RUN, reason="set TUNEBENCH_BENCH_RUN to a finished bench's stage-2 run folder")
def test_a_fine_tune_from_a_bench_run_learns_a_third_party_single_object_set(tmp_path):
    data = write_set(tmp_path / "single", train_images=700, test_images=170, seed=7)
    recipe = "minigpt4" if "minigpt4" in Path(RUN).parent.name else "llava-1.5"
    env = subprocess_env(Path(os.environ.get("TUNEBENCH_CACHE", tmp_path / "cache")), OMP_NUM_THREADS="2")
    run(cli(["train", "--recipe", recipe, "--init", RUN, "--stage", "stage2", "--instructions", data["train"],
             "--image-folder", data["images"], "--out", tmp_path / "run"]), env, tmp_path / "train.log",
        timeout=6 * 3600)
    run(cli(["eval", tmp_path / "run" / "stage2", "--task", "vqav2", "--data", data["questions"],
             data["annotations"], "--image-folder", data["images"], "--out", tmp_path / "eval"]), env,
        tmp_path / "eval.log", timeout=3600)
    rows = jsonl_rows(tmp_path / "eval" / "samples.jsonl")
    by_kind: dict[str, list[float]] = {}
    for row in rows:
        by_kind.setdefault(row["meta"]["skill"], []).append(row["score"])
    scores = {kind: 100 * sum(s) / len(s) for kind, s in by_kind.items()}
    overall = 100 * sum(row["score"] for row in rows) / len(rows)
    print(f"overall {overall:.1f} on {len(rows)} questions; " + ", ".join(f"{k} {v:.1f}" for k, v in scores.items()))
    assert len(rows) == 510 and set(scores) == {"colour", "shape", "yes/no"}
    assert overall >= 90 and min(scores.values()) >= 80, scores
