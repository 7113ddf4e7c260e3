"""Plots of the benchmark report: training curves and accuracy versus cost."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from tunebench.core.io import read_jsonl
from tunebench.evaluation.tasks import task_label
from tunebench.report.render import figure_uri


def training_curves(results: dict, out: Path) -> str:
    stages = sorted({s for arm in results["arms"].values() for s in arm["curves"]})
    fig, axes = plt.subplots(1, max(1, len(stages)), figsize=(5 * max(1, len(stages)), 3.2), squeeze=False)
    for ax, stage in zip(axes[0], stages, strict=False):
        for arm in results["arms"].values():
            path = out / arm["curves"].get(stage, "missing")
            if not path.is_file():
                continue
            rows = read_jsonl(path)
            ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], label=arm["label"])
        ax.set_title(f"training loss, {stage}")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("loss")
        ax.legend(fontsize=8)
    return figure_uri(fig)


def accuracy_vs_cost(results: dict) -> str:
    tasks = results["tasks"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.6 * len(tasks), 3.2), squeeze=False)
    blind = results["data"].get("blind_baseline", {})
    for ax, task in zip(axes[0], tasks, strict=True):
        for arm in results["arms"].values():
            score = arm["tasks"][task]
            x = arm["cost"]["train_wall_s"] / 60
            ax.errorbar([x], [score["mean"]], yerr=[[score["mean"] - score["low"]], [score["high"] - score["mean"]]],
                        fmt="o", capsize=3, label=arm["label"])
        if task in blind:
            ax.axhline(blind[task], ls="--", color="grey", lw=1, label="blind baseline")
        ax.set_title(task_label(task))
        ax.set_xlabel("training time (min)")
    axes[0][0].legend(fontsize=7)
    return figure_uri(fig)


def learning_curves(results: dict) -> str | None:
    """Curve-subset score against training FLOPs and against training time, one line per arm."""
    arms = {name: arm for name, arm in results["arms"].items() if arm.get("learning_curve")}
    if not arms:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), squeeze=False)
    blind = results["data"].get("curve_blind") or {}
    axis_of = (("flops", 1e15, "training PFLOP (est.)"), ("train_wall_s", 60, "training time (min)"))
    for ax, (key, unit, xlabel) in zip(axes[0], axis_of, strict=True):
        for arm in arms.values():
            points = arm["learning_curve"]
            ax.plot([p[key] / unit for p in points], [p["mean"] for p in points], marker="o", label=arm["label"])
        if blind:
            ax.axhline(sum(blind.values()) / len(blind), ls="--", color="grey", lw=1, label="blind baseline")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("mean score on the curve subset")
    axes[0][0].legend(fontsize=8)
    return figure_uri(fig)
