"""The benchmark report: report.html (self-contained) and report.md, both rendered from results.json."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from markupsafe import Markup, escape

from tunebench.bench.config import profile
from tunebench.bench.verdict import blind_limited
from tunebench.core.io import atomic_write_text
from tunebench.evaluation.tasks import task_label
from tunebench.report.figures import accuracy_vs_cost, learning_curves, training_curves
from tunebench.report.render import Cells, environment, image_uri

CEILING_NOTE = ("Perception ceiling (tunebench ceiling): the same LLM trained on the same stage-2 records with "
                "{arm}'s stage-2 recipe ({steps} steps, one seed), each image replaced by a description of its scene "
                "in words (every object's size, colour, shape and place, the count, one relation), asked the same "
                "questions and scored the same way. A reference point for a connector that delivered the scene as "
                "well as words do; not a bound: no stage 1, and an arm can beat it by chance or on what the words "
                "leave out.")


WORLD_FIELDS = ("train_scenes", "test_scenes", "max_objects", "questions_per_image", "question_mix", "captions",
                "instructions", "eval_per_task")


BLIND_NOTE = ("A design's 95% interval reaches the blind baseline on this benchmark: the difference there is between "
              "language priors, not connectors, and the verdict does not count it as a win.")
SEEDS_NOTE = ("Seeds vary initialisation, data order and dropout; the data and questions stay the same. Headlines, "
              "breakdowns, per-skill scores and image-use gaps are means over the seeds; the learning curves are the "
              "first seed's.")


def data_changes(results: dict) -> list[dict]:
    """The Shapes world's settings where they differ from the full profile's (the hard world, every record);
    empty for a user's own data."""
    if not results["data"].get("world"):
        return []
    full, as_run = asdict(profile("full").data), results["config"]["data"]

    def shown(value: int | dict) -> str:
        if isinstance(value, dict):
            return ", ".join(f"{k} x{w:g}" for k, w in value.items()) or "default"
        return "all" if value == 0 else str(value)

    return [{"field": f"data.{k}", "full": shown(full[k]), "as_run": shown(as_run[k])}
            for k in WORLD_FIELDS if as_run.get(k, full[k]) != full[k]]


def _ceiling_note(results: dict, c: Cells) -> Markup:
    label = results["arms"][results["ceiling"]["arm"]]["label"]
    return Markup(escape(CEILING_NOTE)).format(steps=c.num("ceiling.steps"), arm=label)


def _view(results: dict, out: Path, c: Cells) -> dict:
    arms = results["arms"]
    main = [k for k, a in arms.items() if not a["ablation"]]
    return {
        "r": results, "arms": arms, "arm_keys": list(arms), "main": main, "tasks": results["tasks"],
        "task_labels": {t: task_label(t) for t in results["tasks"]}, "comparison": results.get("comparison") or {},
        "blind": results["data"].get("blind_baseline", {}),
        "skills": sorted({s for a in arms.values() for s in a["skills"]}),
        "blind_skills": results["data"].get("blind_skills", {}),
        "reliance_tasks": [t for t in results["tasks"] if any(t in a.get("image_reliance", {}) for a in arms.values())],
        "curves": training_curves(results, out), "cost_plot": accuracy_vs_cost(results),
        "learning_plot": learning_curves(results),
        "thumbs": {s["image"]: image_uri(s["image"]) for s in results["samples"]},
        "ceiling_note": _ceiling_note(results, c) if results.get("ceiling") else "",
        "data_changes": data_changes(results), "seeds_note": SEEDS_NOTE,
        "blind_limited": blind_limited(results), "blind_note": BLIND_NOTE,
    }


def write_report(results: dict, out: Path) -> dict[str, Path]:
    out = Path(out)
    html_cells = Cells(results)
    view = _view(results, out, html_cells)
    html = environment().get_template("bench.html.j2").render(**view, c=html_cells)
    md = markdown(results, Cells(results))
    atomic_write_text(out / "report.html", html)
    atomic_write_text(out / "report.md", md)
    return {"html": out / "report.html", "md": out / "report.md"}


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def markdown(results: dict, c: Cells) -> str:
    arms, tasks = results["arms"], results["tasks"]
    comp = results.get("comparison") or {}
    blind = results["data"].get("blind_baseline", {})
    limited = blind_limited(results)
    lines = [f"# tunebench: LLaVA-1.5 vs MiniGPT-4 ({results['profile']} profile)", "", "## Verdict", ""]
    lines += [f"- {s}" for s in results["verdict"]["sentences"]]
    ceiling = results.get("ceiling") or {"tasks": {}}
    head = ["benchmark", "blind baseline", *(["perception ceiling (95% CI)"] if ceiling["tasks"] else []),
            *[arms[a]["label"] + " (95% CI)" for a in arms]]
    if comp:
        head += [f"{arms[comp['a']]['label']} - {arms[comp['b']]['label']} (95% CI)", "p"]
    lines += ["", "## Headline results", "", "95% intervals: bootstrap over images, each with all its questions; "
              "differences paired (same questions).", "", _row(head), _row(["---"] * len(head))]
    for t in tasks:
        cells = [task_label(t), c.text(f"data.blind_baseline.{t}") if t in blind else "-"]
        if ceiling["tasks"]:
            k = f"ceiling.tasks.{t}"
            cells.append(f"{c.text(k + '.value')} [{c.text(k + '.low')}, {c.text(k + '.high')}]"
                         if t in ceiling["tasks"] else "-")
        for a in arms:
            k = f"arms.{a}.tasks.{t}"
            cells.append(f"{c.text(k + '.mean')} [{c.text(k + '.low')}, {c.text(k + '.high')}]")
        if comp:
            k = f"comparison.tasks.{t}"
            mark = " †" if t in limited else ""
            cells += [f"{c.text(k + '.diff')} [{c.text(k + '.low')}, {c.text(k + '.high')}]{mark}",
                      c.text(k + ".p_value", 3)]
        lines.append(_row(cells))
    if comp and limited:
        lines += ["", f"† {BLIND_NOTE}"]
    if ceiling["tasks"]:
        lines += ["", CEILING_NOTE.format(steps=c.text("ceiling.steps"), arm=arms[ceiling["arm"]]["label"])]
    lines += _seed_markdown(results, c)
    skills = sorted({s for a in arms.values() for s in a["skills"]})
    if skills:
        blind_skills = results["data"].get("blind_skills", {})
        head = ["skill", *(["blind baseline"] if blind_skills else []), *[arms[a]["label"] for a in arms]]
        head += ["difference (95% CI)"] if comp else []
        lines += ["", "## By skill (mean per-question score, all benchmarks pooled)", "", _row(head),
                  _row(["---"] * len(head))]
        for s in skills:
            cells = [s] + ([c.text(f"data.blind_skills.{s}.score") if s in blind_skills else "-"]
                           if blind_skills else [])
            cells += [c.text(f"arms.{a}.skills.{s}.score") if s in arms[a]["skills"] else "-" for a in arms]
            if comp and s in comp["skills"]:
                k = f"comparison.skills.{s}"
                cells.append(f"{c.text(k + '.diff')} [{c.text(k + '.low')}, {c.text(k + '.high')}]")
            lines.append(_row(cells))
    lines += _reliance_markdown(results, c)
    lines += ["", "## Cost", "", f"Arms trained {c.text('workers.processes')} at a time, one process each on "
              f"{c.text('workers.threads_each')} thread(s): wall times are per arm, with the machine shared. "
              f"Computed in {c.text('precision.precision')} (asked: {c.text('precision.precision_requested')}) on a "
              f"CPU with capability {c.text('precision.cpu_capability')}, native bf16: "
              f"{c.text('precision.native_bf16')}.", "",
              _row(["arm", "stage", "precision", "wall s", "samples/s", "tokens", "PFLOP", "trainable",
                                       "peak MB"]), _row(["---"] * 9)]
    for a in arms:
        for stage in arms[a]["cost"]["stages"]:
            k = f"arms.{a}.cost.stages.{stage}"
            lines.append(_row([arms[a]["label"], stage, c.text(k + ".precision"), c.text(k + ".wall_s"),
                               c.text(k + ".samples_per_s"), c.text(k + ".tokens_seen"), c.text(k + ".train_pflop", 3),
                               c.text(k + ".trainable_params"), c.text(k + ".peak_mem_mb", 0)]))
    lines += ["", "## Recipes as run", "", _row(["arm", "stage", "trains", "lr", "batch per process",
                                                           "accumulation", "epochs"]), _row(["---"] * 7)]
    for a in arms:
        for i, stage in enumerate(arms[a]["config"]["stages"]):
            k = f"arms.{a}.config.stages.{i}"
            lines.append(_row([arms[a]["label"], stage["name"], ", ".join(stage["train"]), c.text(k + ".optim.lr", -2),
                               c.text(k + ".optim.batch_size"), c.text(k + ".optim.grad_accum"),
                               c.text(k + ".optim.epochs")]))
    for a in arms:
        if arms[a].get("changes"):
            lines += ["", f"{arms[a]['label']}: settings that differ from the published {arms[a]['recipe']} recipe",
                      "", _row(["setting", "published", "as run"]), _row(["---"] * 3)]
            lines += [_row([f"`{ch['field']}`", str(ch["published"]), str(ch["as_run"])]) for ch in arms[a]["changes"]]
    if changes := data_changes(results):
        lines += ["", "Shapes world: settings that differ from the full profile's (the hard world, every record)", "",
                  _row(["setting", "full profile", "as run"]), _row(["---"] * 3)]
        lines += [_row([f"`{ch['field']}`", ch["full"], ch["as_run"]]) for ch in changes]
    lines += ["", "Plots, per-benchmark breakdowns and sample predictions: see report.html.", ""]
    return "\n".join(lines)


def _seed_markdown(results: dict, c: Cells) -> list[str]:
    """Each seed's headline per arm and, with two main designs, each seed's difference."""
    seeds = results["config"]["seeds"]
    if len(seeds) < 2:
        return []
    arms, comp = results["arms"], results.get("comparison") or {}
    head = ["benchmark", *[f"{arms[a]['label']}, seed {s}" for a in arms for s in seeds]]
    head += [f"difference, seed {s}" for s in seeds] + ["same sign"] if comp else []
    lines = ["", "## Seeds", "", SEEDS_NOTE, "", _row(head), _row(["---"] * len(head))]
    for t in results["tasks"]:
        cells = [task_label(t), *[c.text(f"arms.{a}.tasks.{t}.per_seed.{i}") for a in arms for i in range(len(seeds))]]
        if comp:
            k = f"comparison.tasks.{t}"
            cells += [c.text(f"{k}.per_seed.{i}") for i in range(len(seeds))]
            cells.append(f"{c.text(k + '.seeds_same_sign')} of {len(seeds)}")
        lines.append(_row(cells))
    return lines


def _reliance_markdown(results: dict, c: Cells) -> list[str]:
    rows = [(a, t) for a, arm in results["arms"].items() for t in results["tasks"]
            if t in arm.get("image_reliance", {})]
    if not rows:
        return []
    lines = ["", "## Does the model look at the image?", "",
             "Loss of the reference answers (nats per token) with the right image vs another image; ~0 gap = priors.",
             "", _row(["arm", "benchmark", "right image", "other image", "gap"]), _row(["---"] * 5)]
    for a, t in rows:
        k = f"arms.{a}.image_reliance.{t}"
        lines.append(_row([results["arms"][a]["label"], task_label(t), c.text(k + ".loss_right_image", 3),
                           c.text(k + ".loss_other_image", 3), c.text(k + ".gap", 3)]))
    return lines
