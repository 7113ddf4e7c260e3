"""Scheduling of the benchmark's arms as parallel processes (the processes themselves run in the smoke bench)."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest
import torch

from tunebench.bench.config import profile
from tunebench.bench.parallel import (
    Job,
    LogRelay,
    eval_jobs,
    job_result,
    merge_evaluations,
    plan_jobs,
    submit_job,
    worker_plan,
)
from tunebench.core.errors import UserError


def test_full_profile_plan_runs_each_qformer_once_before_the_arms_that_share_it(tmp_path):
    cfg = profile("full")
    ready, waiting = plan_jobs(cfg, tmp_path)
    qformer_jobs = [job for job in ready if job.kind == "qformer"]
    assert ready[: len(qformer_jobs)] == qformer_jobs  # they gate other arms, so they start first
    assert sorted(job.qformer for job in qformer_jobs) == sorted(waiting)  # one pretraining per folder
    # Every (arm, seed) is scheduled exactly once: ready now, or behind its Q-Former.
    arm_jobs = [job for job in ready if job.kind == "train"] + [job for jobs in waiting.values() for job in jobs]
    assert sorted((job.arm.name, job.seed) for job in arm_jobs) == sorted(
        (arm.name, seed) for arm in cfg.arms for seed in cfg.seeds)
    assert all(job.arm.design == "llava" for job in ready if job.kind == "train")
    # Seeds never share a Q-Former; arms with the same Q-Former settings do (minigpt4 and its LoRA ablation).
    for folder, jobs in waiting.items():
        assert {job.seed for job in jobs} == {int(folder.name.rsplit("-s", 1)[1])}
    seed0 = next(jobs for jobs in waiting.values() if any(job.arm.name == "minigpt4" and job.seed == 0
                                                          for job in jobs))
    assert "minigpt4-lora" in {job.arm.name for job in seed0}


def test_worker_plan_splits_the_cores_and_falls_back_to_one_process():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        if not torch.cuda.is_available():
            assert worker_plan(2, 2) == (2, 1)
            assert worker_plan(8, 3) == (2, 1)  # never more processes than cores
        assert worker_plan(1, 5) == (1, 2)
        assert worker_plan(2, 1) == (1, 2)  # one job: all cores to it
        torch.set_num_threads(1)
        assert worker_plan(2, 2) == (1, 1)
    finally:
        torch.set_num_threads(before)


def test_log_relay_prefixes_complete_lines_and_holds_back_a_partial_one(tmp_path):
    log = tmp_path / "llava-s0.log"
    log.write_text("earlier run\n")
    relay, seen = LogRelay(), []
    relay.follow("llava-s0", log)  # what was there before is not repeated
    relay.follow("missing", tmp_path / "not-yet.log")
    with open(log, "a") as fh:
        fh.write("step 1/10\nstep 2/")
    relay.pump(lambda line, **_: seen.append(line))
    assert seen == ["[llava-s0] step 1/10"]
    with open(log, "a") as fh:
        fh.write("10\nloading:  50%\rloading: 100%\n")
    relay.pump(lambda line, **_: seen.append(line))
    assert seen == ["[llava-s0] step 1/10", "[llava-s0] step 2/10", "[llava-s0] loading: 100%"]


def test_a_trained_arm_is_scored_by_one_job_per_share_of_the_benchmarks():
    arm = profile("default").arms[0]
    tasks = ["vqav2", "gqa", "mme", "pope"]
    run = Path("out/arms/llava-s1/stage2")
    jobs = eval_jobs(Job("train", arm, 1), run, tasks, workers=2)
    assert [job.tasks for job in jobs] == [("vqav2", "mme"), ("gqa", "pope")]
    assert all(job.run == run for job in jobs)
    assert [job.name for job in jobs] == ["llava-s1-eval-vqav2-mme", "llava-s1-eval-gqa-pope"]
    assert Job("train", arm, 1).name == "llava-s1"  # the training log keeps the arm's name
    assert [job.tasks for job in eval_jobs(Job("train", arm, 0), run, ["pope"], workers=2)] == [("pope",)]
    three = eval_jobs(Job("train", arm, 0), run, tasks, workers=3)
    assert sorted(t for job in three for t in job.tasks) == sorted(tasks)


def test_eval_shares_merge_back_in_the_benchmarks_order():
    trained = {"train": {"stage1": 1}, "recipe": {"name": "llava-1.5"}}
    parts = [{"eval": {"gqa": "G", "pope": "P"}, "image_reliance": {"gqa": 0.2}},
             {"eval": {"vqav2": "V", "mme": "M"}, "image_reliance": {"vqav2": 0.1, "mme": 0.0}}]
    merged = merge_evaluations(trained, parts, ["vqav2", "gqa", "mme", "pope"])
    assert list(merged["eval"].items()) == [("vqav2", "V"), ("gqa", "G"), ("mme", "M"), ("pope", "P")]
    assert list(merged["image_reliance"]) == ["vqav2", "gqa", "mme"]
    assert merged["train"] == {"stage1": 1} and merged["recipe"] == {"name": "llava-1.5"}


def _killed_by_the_os() -> None:
    os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer does to a worker


def test_a_worker_killed_by_the_os_stops_the_bench_with_one_line_naming_the_job(tmp_path):
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        future = pool.submit(_killed_by_the_os)
        with pytest.raises(UserError, match=r"llava-s1 was killed by the operating system.*rerun the same command"):
            job_result(future, "llava-s1", tmp_path / "llava-s1.log")
        # The next job submitted to the broken pool (the bench's next evaluation) gets the same line, no traceback.
        with pytest.raises(UserError, match=r"a worker process was killed by the operating system"):
            submit_job(pool, tmp_path / "logs" / "llava-s0-eval.log", divmod, 1, 1)
    # A job's own error stays as it is.
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool, pytest.raises(ZeroDivisionError):
        job_result(pool.submit(divmod, 1, 0), "llava-s0", tmp_path / "llava-s0.log")


# The bench's own pool, one job that would run for an hour; the parent prints the worker's pid and waits.
ORPHAN_PARENT = """
import time
from tunebench.bench.parallel import worker_pool

pool = worker_pool(1)
print(pool.submit(__import__("os").getpid).result(), flush=True)
pool.submit(time.sleep, 3600)
time.sleep(3600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat")
    return not (state.is_file() and state.read_text().split(")")[-1].split()[0] == "Z")  # a zombie has ended


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_bench_takes_its_workers_with_it(how):
    import subprocess
    import sys
    import time

    parent = subprocess.Popen([sys.executable, "-c", ORPHAN_PARENT], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(parent.stdout.readline())
        assert _alive(worker)
        parent.send_signal(how)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 15
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(worker), f"worker {worker} outlived its bench"
    finally:
        parent.kill()
