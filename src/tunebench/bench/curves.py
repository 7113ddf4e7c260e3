"""Learning curves at equal compute: each arm scored on one fixed subset at evenly spaced steps of its last stage.

The probe runs inside the training loop (train.loop's `on_step`), outside the timed training, and only reads the
weights, so an arm trains to the same weights with or without it. Each point records the stage's step and training
wall time; training FLOPs are added when results are built, from the stage summaries (and, for MiniGPT-4, its
Q-Former pretraining), so both designs are placed on one compute axis.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunebench.core.device import Precision
from tunebench.core.io import append_jsonl, read_jsonl, sha256_json
from tunebench.data.records import Record, records_hash
from tunebench.train.checkpointing import TrainState

CURVE = "curve.jsonl"


def curve_steps(total: int, points: int) -> list[int]:
    """The start of the stage and `points` evenly spaced steps after it, the last one the final step."""
    return sorted({0, *(round(k * total / points) for k in range(1, points + 1))})


def curve_records(evals: dict[str, list[Record]], per_task: int) -> dict[str, list[Record]]:
    """The fixed subset every point is scored on: the first `per_task` questions of each task with open
    questions (generation, no closed-set shortcut)."""
    from tunebench.evaluation.tasks import get_task

    return {t: records[:per_task] for t, records in evals.items()
            if per_task and records and not get_task(t).candidates}


@dataclass
class CurveProbe:
    """A training-loop hook that scores the model on `records` at `curve_steps` and appends each point to `path`."""

    records: dict[str, list[Record]]
    points: int
    path: Path
    batch_size: int = 16
    precision: Precision = "auto"

    def __call__(self, state: TrainState, total: int, model) -> None:
        if state.step not in curve_steps(total, self.points) or state.step in self.done():
            return
        model.eval()
        scores = {task: score_subset(model, task, records, self.batch_size, self.precision)
                  for task, records in self.records.items()}
        append_jsonl(self.path, {"step": state.step, "total": total, "train_wall_s": state.wall_s, "scores": scores,
                                 "data": self.data_hash})

    @functools.cached_property
    def data_hash(self) -> str:
        return sha256_json({t: records_hash(rs) for t, rs in self.records.items()})[:16]

    def done(self) -> set[int]:
        """Steps already scored on this subset (a resumed stage does not score them again)."""
        if not self.path.is_file():
            return set()
        return {row["step"] for row in read_jsonl(self.path) if row.get("data") == self.data_hash}


def score_subset(model, task_name: str, records: list[Record], batch_size: int, precision: Precision = "auto"
                 ) -> float:
    """The benchmark's headline score of `model` on `records`, with greedy generation."""
    from tunebench.evaluation.engine import predict
    from tunebench.evaluation.tasks import get_task

    task = get_task(task_name)
    metric = task.metric
    rows = [metric.evaluate(p.raw, p.record.answers, p.record.meta)
            for p in predict(model, task, records, batch_size=batch_size, scoring="generate",
                                  precision=precision)]
    return float(metric.aggregate(rows)["headline"]["value"])


def curve_points(run_dir: Path, summaries: dict[str, dict], qformer: dict | None, stage: str) -> list[dict[str, Any]]:
    """The stage's curve on the arm's whole compute axis: FLOPs and training time of everything trained before
    the stage (earlier stages, Q-Former pretraining), plus the stage's share up to each point."""
    path = Path(run_dir) / CURVE
    if not path.is_file() or stage not in summaries:
        return []
    names = list(summaries)
    before = names[: names.index(stage)]
    flops0 = sum(summaries[s]["train_flops"] for s in before) + (qformer or {}).get("train_flops", 0.0)
    wall0 = sum(summaries[s]["train"]["wall_s"] for s in before) + (qformer or {}).get("wall_s", 0.0)
    stage_flops = summaries[stage]["train_flops"]
    rows = read_jsonl(path)
    points = []
    for row in sorted((r for r in rows if r.get("data") == rows[-1].get("data")), key=lambda r: r["step"]):
        scores = row["scores"]
        points.append({"step": row["step"], "flops": flops0 + stage_flops * row["step"] / row["total"],
                       "train_wall_s": wall0 + row["train_wall_s"], "scores": scores,
                       "mean": sum(scores.values()) / len(scores)})
    return points


def compute_to_reach(curves: dict[str, list[dict[str, Any]]]) -> dict[str, Any] | None:
    """Which arm reaches a common score with less compute: the target is the lowest of the arms' final curve
    scores (so every arm reaches it); for each arm, the FLOPs and training time of its first point at or above it."""
    curves = {name: points for name, points in curves.items() if len(points) >= 2}
    if len(curves) < 2:
        return None
    target = min(points[-1]["mean"] for points in curves.values())
    reached = {}
    for name, points in curves.items():
        first = next(p for p in points if p["mean"] >= target)
        reached[name] = {"flops": first["flops"], "train_wall_s": first["train_wall_s"], "step": first["step"]}
    return {"target": target, "reached": reached}
