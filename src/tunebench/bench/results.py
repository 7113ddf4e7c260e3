"""Turn the raw per-arm outputs into results.json: every number the report shows, with provenance."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from tunebench.bench.config import BenchConfig
from tunebench.bench.curves import compute_to_reach
from tunebench.bench.pipeline import arm_folder
from tunebench.bench.stats import headline_ci, mean_score, paired_headline_test, paired_test
from tunebench.core.device import resolve_precision
from tunebench.core.io import read_jsonl
from tunebench.core.provenance import environment

STAGES = ("stage1", "stage2")


def _rows(out: Path, arm: str, seed: int, task: str, ids: list[str]) -> list[dict]:
    """The arm's scored answers to exactly this bench's questions, in id order.

    samples.jsonl keeps every answer the arm ever gave, so after a rerun with another subset (a new
    `eval_per_task`) it also holds questions the bench no longer asks; they must not count.
    """
    path = arm_folder(out, arm, seed) / "eval" / task / "samples.jsonl"
    by_id = {r["id"]: {**r, "answers": tuple(r["answers"])} for r in read_jsonl(path)}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise ValueError(f"{path}: no answer to {len(missing)} of the bench's questions (first: {missing[0]})")
    return [by_id[k] for k in sorted(ids)]


def _cost(arm_raw: dict) -> dict[str, Any]:
    """Mean over seeds of each stage's wall time, throughput, tokens, FLOPs, parameters and memory."""
    seeds = list(arm_raw.values())
    stages = {}
    for stage in STAGES:
        runs = [s["train"][stage] for s in seeds if stage in s["train"]]
        if not runs:
            continue
        stages[stage] = {
            "wall_s": float(np.mean([r["stage_wall_s"] for r in runs])),
            "samples_per_s": float(np.mean([r["train"]["samples_per_s"] for r in runs])),
            "tokens_seen": int(np.mean([r["tokens_seen"] for r in runs])),
            "train_flops": float(np.mean([r["train_flops"] for r in runs])),
            "train_pflop": float(np.mean([r["train_flops"] for r in runs])) / 1e15,
            "trainable_params": int(sum(p["trainable"] for p in runs[0]["parameters"])),
            "peak_mem_mb": float(np.max([r["train"]["peak_mem_mb"] for r in runs])),
            "loss_first": float(np.mean([r["loss_first"] for r in runs])),
            "loss_last": float(np.mean([r["loss_last"] for r in runs])),
            "precision": "/".join(sorted({r["train"]["precision"]["precision"] for r in runs})),
        }
    qformer = [s["qformer"] for s in seeds if s.get("qformer")]
    eval_s = float(np.mean([sum(e["timing"]["predict_s"] for e in s["eval"].values()) for s in seeds]))
    total = sum(v["wall_s"] for v in stages.values()) + (float(np.mean([q["wall_s"] for q in qformer])) if qformer
                                                         else 0.0)
    return {"stages": stages, "qformer_pretrain_s": float(np.mean([q["wall_s"] for q in qformer])) if qformer
            else 0.0, "train_wall_s": total, "train_flops": sum(v["train_flops"] for v in stages.values()),
            "eval_s": eval_s}


def build_results(cfg: BenchConfig, raw: dict, out: Path) -> dict[str, Any]:
    tasks = list(raw["data"]["eval_counts"])
    arms: dict[str, Any] = {}
    rows: dict[str, dict[str, list[list[dict]]]] = {}
    for arm in cfg.arms:
        arm_raw = raw["arms"][arm.name]
        rows[arm.name] = {t: [_rows(out, arm.name, s, t, raw["eval_ids"][t]) for s in cfg.seeds] for t in tasks}
        first = arm_raw[cfg.seeds[0]]
        arms[arm.name] = {
            "label": arm.label, "design": arm.design, "recipe": arm.recipe, "ablation": arm.ablation,
            "tasks": {t: {**headline_ci(t, rows[arm.name][t], cfg.bootstrap_resamples),
                          "name": first["eval"][t]["headline"]["name"],
                          "breakdown": mean_breakdown(t, [arm_raw[s]["eval"][t]["summary"] for s in cfg.seeds])}
                      for t in tasks},
            "skills": skill_scores(list(rows[arm.name].values())),
            "cost": _cost(arm_raw),
            "parameters": first["train"][STAGES[-1]]["parameters"] if STAGES[-1] in first["train"] else [],
            "qformer": first.get("qformer"),
            "curves": {stage: str(Path("arms") / f"{arm.name}-s{cfg.seeds[0]}" / stage / "metrics.jsonl")
                       for stage in first["train"]},
            "config": first["recipe"],
            "changes": _changes(cfg, arm, first["recipe"]),
            "image_reliance": mean_reliance([arm_raw[s].get("image_reliance") or {} for s in cfg.seeds]),
            "learning_curve": first.get("learning_curve") or [],
        }
    main = [a for a in cfg.arms if not a.ablation][:2]
    comparison = _compare(cfg, main, tasks, rows) if len(main) == 2 else {}
    if comparison:
        comparison["compute"] = compute_to_reach({a.name: arms[a.name]["learning_curve"] for a in main})
    return {
        "profile": cfg.profile, "config": cfg.to_dict(), "environment": environment(), "data": raw["data"],
        "precision": resolve_precision(cfg.precision).record(),
        "parts": _parts(cfg, raw["arms"][cfg.arms[0].name][cfg.seeds[0]]),
        "tasks": tasks, "arms": arms, "comparison": comparison, "wall_s": raw["wall_s"],
        "workers": raw["workers"],
        "samples": _samples(rows, cfg, tasks),
    }


def _changes(cfg: BenchConfig, arm, as_run: dict[str, Any]) -> list[dict[str, Any]]:
    """The arm's departures (its recipe as run) from its published recipe, the bench's parts aside."""
    from tunebench.train.recipes import get_recipe, recipe_changes

    published = get_recipe(arm.recipe)
    published.model.vision, published.model.llm = cfg.vision, cfg.llm
    return recipe_changes(published, as_run)


def _parts(cfg: BenchConfig, first: dict) -> dict[str, Any]:
    """The pretrained parts every arm starts from: names, and weight hashes as the arm's first stage loaded them."""
    base = next(iter(first["train"].values()), {}).get("base_weights", {})
    return {"vision": {"name": cfg.vision, "weights_hash": base.get("vision")},
            "llm": {"name": cfg.llm, "weights_hash": base.get("llm")}}


def breakdown(task: str, summary: dict) -> dict[str, float]:
    """The official sub-scores worth a column (answer types, structural types, subtasks, splits)."""
    from tunebench.evaluation.tasks import get_task

    return get_task(task).breakdown(summary)


def mean_breakdown(task: str, summaries: list[dict]) -> dict[str, float]:
    """The official sub-scores averaged over seeds (each seed's summary of the task)."""
    per_seed = [breakdown(task, summary) for summary in summaries]
    return {k: float(np.mean([b[k] for b in per_seed])) for k in per_seed[0] if all(k in b for b in per_seed)}


def skill_scores(task_rows: Iterable[list[list[dict]]]) -> dict[str, dict[str, Any]]:
    """Mean per-question score (%) per skill, pooled over tasks, averaged over seeds, with each seed's score and
    the question count; `task_rows` holds each task's rows per seed."""
    pooled: dict[str, list[list[float]]] = {}
    for per_seed in task_rows:
        for i, rows in enumerate(per_seed):
            for row in rows:
                if skill := row["meta"].get("skill"):
                    pooled.setdefault(skill, [[] for _ in per_seed])[i].append(row["score"])
    scores = {k: [100 * float(np.mean(seed)) for seed in v] for k, v in sorted(pooled.items())}
    return {k: {"score": float(np.mean(per_seed)), "per_seed": per_seed, "n": len(pooled[k][0])}
            for k, per_seed in scores.items()}


def mean_reliance(per_seed: list[dict[str, dict]]) -> dict[str, dict[str, Any]]:
    """Each task's image-use losses and gap averaged over the seeds that measured it, with each seed's gap."""
    tasks = [t for t in per_seed[0] if all(t in seed for seed in per_seed)] if per_seed else []
    losses = ("loss_right_image", "loss_other_image", "gap")
    return {t: {**per_seed[0][t], **{k: float(np.mean([seed[t][k] for seed in per_seed])) for k in losses},
                "per_seed_gap": [float(seed[t]["gap"]) for seed in per_seed]} for t in tasks}


def _compare(cfg: BenchConfig, main, tasks: list[str], rows: dict) -> dict[str, Any]:
    a, b = main
    per_task = {t: paired_headline_test(t, rows[a.name][t], rows[b.name][t], cfg.bootstrap_resamples)
                for t in tasks}
    skills: dict[str, Any] = {}
    for skill in sorted({r["meta"].get("skill") for t in tasks for r in rows[a.name][t][0]} - {None}):
        def of(arm: str, skill: str = skill) -> list[list[dict]]:
            return [[r for t in tasks for r in rows[arm][t][i] if r["meta"].get("skill") == skill]
                    for i in range(len(cfg.seeds))]

        skills[skill] = paired_test(mean_score, of(a.name), of(b.name), cfg.bootstrap_resamples)
    return {"a": a.name, "b": b.name, "tasks": per_task, "skills": skills}


def _samples(rows: dict, cfg: BenchConfig, tasks: list[str]) -> list[dict]:
    """Side-by-side predictions of the main designs on the same questions (a few images, each task)."""
    main = [a.name for a in cfg.arms if not a.ablation][:2]
    picked = []
    for t in tasks:
        first = rows[main[0]][t][0]
        step = max(1, len(first) // max(1, cfg.sample_images))
        for i in range(0, len(first), step)[: cfg.sample_images]:
            picked.append({"task": t, "id": first[i]["id"], "image": first[i]["image"], "question": first[i]["prompt"],
                           "answers": list(dict.fromkeys(first[i]["answers"])),
                           "predictions": {m: {"raw": rows[m][t][0][i]["raw"], "score": rows[m][t][0][i]["score"]}
                                           for m in main}})
    return picked
