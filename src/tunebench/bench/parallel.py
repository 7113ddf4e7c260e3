"""Arms side by side: one process per (arm, seed), each on its share of the CPU cores.

A 135M-parameter model trained with batch 8 does not keep two cores busy from one process, so on a CPU the benchmark
runs its arms as separate processes (the measurement: docs/decisions.md, "Arms side by side"). Each writes its own
log (`logs/<job>.log`), relayed here line by line with the job's name in front. A MiniGPT-4 arm waits for its
Q-Former pretraining, which runs as a job of its own and is shared by every arm that uses it. A trained arm is
scored by one job per share of the benchmarks, so that the last arm to finish training is evaluated on every core
instead of one.
An arm's numbers depend on its thread count (floating-point sums are split differently), so the plan is
recorded in results.json; the same command on the same machine gives the same plan and the same numbers.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from rich.console import Console

from tunebench.bench.config import ArmSpec, BenchConfig
from tunebench.core.errors import UserError
from tunebench.data.records import Record
from tunebench.train.pipeline import TrainData

console = Console()


def worker_plan(requested: int, jobs: int) -> tuple[int, int]:
    """(processes, threads per process). One process on a GPU, where the device, not the cores, is the limit."""
    import torch

    cores = torch.get_num_threads()
    if requested <= 1 or jobs <= 1 or torch.cuda.is_available() or cores < 2:
        return 1, cores
    workers = min(requested, jobs, cores)
    return workers, cores // workers


@dataclass(frozen=True)
class Job:
    kind: str  # "qformer" (pretrain a shared Q-Former), "train" (one arm, one seed) or "eval" (score it on `tasks`)
    arm: ArmSpec
    seed: int
    qformer: Path | None = None  # the Q-Former folder a "qformer" job fills
    run: Path | None = None  # the trained run an "eval" job scores
    tasks: tuple[str, ...] = ()  # the benchmarks an "eval" job scores

    @property
    def name(self) -> str:
        run = f"{self.arm.name}-s{self.seed}"
        return {"qformer": f"qformer-{run}", "train": run, "eval": "-".join((run, "eval", *self.tasks))}[self.kind]

    def log(self, logs: Path) -> Path:
        """The file in the bench's `logs` folder that the job's output goes to."""
        return logs / f"{self.name}.log"


def eval_jobs(job: Job, run: Path, tasks: list[str], workers: int) -> list[Job]:
    """A trained arm's evaluation of its final `run` split into up to `workers` jobs, the benchmarks dealt out
    in turn."""
    shares = [tuple(tasks[i::workers]) for i in range(workers)]
    return [Job("eval", job.arm, job.seed, run=run, tasks=share) for share in shares if share]


def merge_evaluations(trained: dict, parts: list[dict], tasks: list[str]) -> dict:
    """An arm's training output with its eval jobs' scores and image-use probes, in the benchmarks' order."""
    merged = {key: {k: v for part in parts for k, v in part[key].items()} for key in ("eval", "image_reliance")}
    return {**trained, **{key: {t: found[t] for t in tasks if t in found} for key, found in merged.items()}}


def plan_jobs(cfg: BenchConfig, out: Path) -> tuple[list[Job], dict[Path, list[Job]]]:
    """Jobs that can start now (Q-Former pretrainings first), and the arms waiting for each Q-Former."""
    from tunebench.bench.config import arm_recipe
    from tunebench.bench.pipeline import qformer_folder

    waiting: dict[Path, list[Job]] = {}
    ready: list[Job] = []
    for seed in cfg.seeds:
        for arm in cfg.arms:
            folder = qformer_folder(arm_recipe(cfg, arm), seed, out)
            if folder is None:
                ready.append(Job("train", arm, seed))
                continue
            if folder not in waiting:
                ready.append(Job("qformer", arm, seed, folder))
            waiting.setdefault(folder, []).append(Job("train", arm, seed))
    return sorted(ready, key=lambda job: job.kind != "qformer"), waiting


def _killed(what: str, log: Path) -> UserError:
    return UserError(f"{what} was killed by the operating system, most often for lack of memory (each training "
                     "process needs several GB); lower `workers` or free memory, then rerun the same command to "
                     f"resume from the last checkpoint (logs: {log})")


def job_result(future: Future, name: str, log: Path) -> Any:
    """A finished job's result; a failed job stops the benchmark with its error, a killed worker with one line."""
    try:
        return future.result()
    except BrokenProcessPool:
        raise _killed(f"the process running {name}", log) from None


def submit_job(pool: ProcessPoolExecutor, log: Path, fn: Callable, *args: Any) -> Future:
    """`pool.submit`; a pool that a killed worker broke (noticed only now) stops the benchmark with one line."""
    try:
        return pool.submit(fn, *args)
    except BrokenProcessPool:
        raise _killed("a worker process", log.parent) from None


def run_jobs_in_parallel(cfg: BenchConfig, train: TrainData, evals: dict[str, list[Record]], out: Path,
                         workers: int, threads: int) -> dict:
    from tunebench.bench.pipeline import final_run

    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    ready, waiting = plan_jobs(cfg, out)
    tasks = list(evals)
    trained: dict[tuple[str, int], dict] = {}
    scored: dict[tuple[str, int], list[dict]] = {}
    relay = LogRelay()
    with worker_pool(workers) as pool:
        def submit(job: Job) -> tuple[Future, Job]:
            log = job.log(logs)
            relay.follow(job.name, log)
            return submit_job(pool, log, _run_job, cfg, job, train, evals, out, threads, log), job

        running = dict(submit(job) for job in ready)
        try:
            while running:
                done, _ = wait(running, timeout=1.0, return_when=FIRST_COMPLETED)
                relay.pump(console.print)
                for future in done:
                    job = running.pop(future)
                    result = job_result(future, job.name, job.log(logs))
                    if job.kind == "qformer":
                        running.update(submit(arm_job) for arm_job in waiting[job.qformer])
                    elif job.kind == "train":
                        trained[job.arm.name, job.seed] = result
                        run = final_run(out, job.arm, job.seed, result)
                        running.update(submit(eval_job) for eval_job in eval_jobs(job, run, tasks, workers))
                    else:
                        scored.setdefault((job.arm.name, job.seed), []).append(result)
        except BaseException:
            stop_workers(pool)
            raise
        finally:
            relay.pump(console.print)
    return {arm.name: {seed: merge_evaluations(trained[arm.name, seed], scored.get((arm.name, seed), []), tasks)
                       for seed in sorted(cfg.seeds)} for arm in cfg.arms}


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """Fresh processes (spawn: no state inherited from the parent) that end when the bench process ends."""
    return ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=exit_with_parent,
                               initargs=(os.getpid(),))


def exit_with_parent(parent: int, every_s: float = 0.5) -> None:
    """In a worker: end the process as soon as `parent` is no longer its parent (the bench was killed, however),
    instead of training on, orphaned, on cores nobody waits for. Finished work is on disk; a rerun resumes."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def stop_workers(pool: ProcessPoolExecutor) -> None:
    """End the running jobs now rather than letting the interpreter wait for them at exit (Ctrl-C, SIGTERM, a
    failed job): their finished work is on disk, and a rerun resumes from the last checkpoint."""
    running = list((getattr(pool, "_processes", None) or {}).values())  # no public handle before Python 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for process in running:
        process.terminate()


def _run_job(cfg: BenchConfig, job: Job, train: TrainData, evals: dict[str, list[Record]], out: Path,
             threads: int, log: Path) -> dict | None:
    """In a worker process: everything it prints goes to its log; it uses `threads` cores."""
    import torch

    from tunebench.bench.config import arm_recipe
    from tunebench.bench.pipeline import evaluate_trained_arm, pretrain_qformer_for, train_arm
    from tunebench.components import load_vision_tower

    handle = open(log, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (stays open for the process's life)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(handle.fileno(), 1)
    os.dup2(handle.fileno(), 2)
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    torch.set_num_threads(threads)
    tower = load_vision_tower(cfg.vision)
    if job.kind == "qformer":
        pretrain_qformer_for(arm_recipe(cfg, job.arm), job.arm.label, job.seed, train, out, tower)
        return None
    if job.kind == "train":
        return train_arm(cfg, job.arm, job.seed, train, evals, out, tower)
    return evaluate_trained_arm(cfg, job.arm, job.run, {t: evals[t] for t in job.tasks}, tower)


class LogRelay:
    """Prints the new complete lines of each job's log, prefixed with the job's name."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[Path, int]] = {}

    def follow(self, name: str, path: Path) -> None:
        self.files[name] = (path, path.stat().st_size if path.is_file() else 0)

    def pump(self, emit: Callable[..., None]) -> None:
        for name, (path, offset) in self.files.items():
            if not path.is_file():
                continue
            with open(path, "rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self.files[name] = (path, offset + len(complete))
            for raw in complete.decode("utf-8", errors="replace").split("\n"):
                line = raw.rstrip("\r").rsplit("\r", 1)[-1]  # a redrawn bar (tqdm): its last state only
                if line.strip():
                    emit(f"[{name}] {line}", markup=False, highlight=False, soft_wrap=True)
