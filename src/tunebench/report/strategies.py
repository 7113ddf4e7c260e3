"""The strategies report: report.html (one self-contained file, plots embedded) and report.md, both
built only from results.json. Model output and data text reach the HTML through Jinja autoescaping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from tunebench.core.io import atomic_write_text
from tunebench.report.render import environment, figure_uri
from tunebench.strategies.advisor import Constraints, advise
from tunebench.strategies.summary import (
    FRESH_COLUMNS,
    TASK_COLUMNS,
    freshness_table_rows,
    pct,
    task_table_rows,
)

SAMPLES = 4


def quality_figure(results: dict) -> str:
    """Per task, each strategy's headline score with its 95% interval."""
    tasks = [t for t in ("knowledge", "format") if results["tasks"].get(t, {}).get("strategies")]
    fig, axes = plt.subplots(1, max(1, len(tasks)), figsize=(5.2 * max(1, len(tasks)), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=False):
        metric = "f1" if task == "knowledge" else "em"
        names = list(results["tasks"][task]["strategies"])
        cis = [results["tasks"][task]["strategies"][n]["metrics"][metric] for n in names]
        means = [100 * c["mean"] for c in cis]
        errors = [[100 * (c["mean"] - c["low"]) for c in cis], [100 * (c["high"] - c["mean"]) for c in cis]]
        ax.bar(names, means, yerr=errors, capsize=3, color="#2f5bd3")
        ax.set_title(f"{task}: {metric.upper()} % (95% CI)")
        ax.set_ylim(0, 100)
        ax.tick_params(axis="x", rotation=35, labelsize=8)
    return figure_uri(fig)


def latency_figure(results: dict) -> str:
    """Knowledge F1 against single-request p50 latency: what each point of quality costs per query."""
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    for name, s in results["tasks"]["knowledge"]["strategies"].items():
        stats = s["latency_ms"] or s["amortised_ms"]
        ax.scatter([stats["p50"]], [100 * s["metrics"]["f1"]["mean"]])
        ax.annotate(name, (stats["p50"], 100 * s["metrics"]["f1"]["mean"]), fontsize=8, xytext=(4, 3),
                    textcoords="offset points")
    ax.set_xlabel("p50 latency per request (ms)")
    ax.set_ylabel("knowledge F1 %")
    ax.set_xscale("log")
    return figure_uri(fig)


def freshness_figure(fresh: dict) -> str:
    """EM on the changed facts before and after each strategy's update, and what the update cost."""
    names = list(fresh["strategies"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    entries = list(fresh["strategies"].values())
    before = [100 * (s["before"]["metrics"]["em"]["mean"] if s.get("before") else 0) for s in entries]
    after = [100 * s["after"]["metrics"]["em"]["mean"] for s in entries]
    x = range(len(names))
    left.bar([i - 0.2 for i in x], before, width=0.4, label="before update", color="#9aa5b8")
    left.bar([i + 0.2 for i in x], after, width=0.4, label="after update", color="#1f8a4c")
    left.set_xticks(list(x), names, rotation=25, fontsize=8)
    left.set_title("EM % on changed facts")
    left.legend(fontsize=8)
    updated = {n: s["update_s"] for n, s in fresh["strategies"].items() if s.get("update_s")}
    right.bar(list(updated), list(updated.values()), color="#b3261e")
    right.set_yscale("log")
    right.set_title("update cost (s, log scale; strategies with an update)")
    right.tick_params(axis="x", rotation=25, labelsize=8)
    return figure_uri(fig)


def _samples(results: dict, task: str) -> list[dict[str, Any]]:
    return [{"strategy": name, "rows": s["rows"][:SAMPLES]} for name, s in results["tasks"][task]["strategies"].items()]


def _advice(results: dict) -> list[dict[str, Any]]:
    """Default-constraint advice for each task, plus the frequent-update case for knowledge."""
    cases = [("knowledge", Constraints()), ("format", Constraints())]
    if "freshness" in results["tasks"]:
        cases.insert(1, ("knowledge", Constraints(update_frequency="weekly")))
    out = []
    for task, constraints in cases:
        if results["tasks"].get(task, {}).get("strategies"):
            advice = advise(results, constraints, task, resamples=results["config"]["bootstrap_resamples"])
            out.append({"task": task, "updates": constraints.update_frequency, "recommended": advice.recommended,
                        "rationale": advice.rationale})
    return out


def view(results: dict) -> dict[str, Any]:
    tasks = {t: {"n": results["tasks"][t]["n_test"], "rows": task_table_rows(results["tasks"][t])}
             for t in ("knowledge", "format") if results["tasks"].get(t, {}).get("strategies")}
    fresh = results["tasks"].get("freshness")
    retrieval_keys = list(next(iter(results["retrieval"].values())))
    return {
        "r": results, "tasks": tasks, "task_columns": TASK_COLUMNS, "fresh_columns": FRESH_COLUMNS,
        "fresh": fresh, "fresh_rows": freshness_table_rows(fresh) if fresh else [],
        "retrieval_keys": retrieval_keys,
        "retrieval_rows": [[m, *[pct(r.get(k)) for k in retrieval_keys]] for m, r in results["retrieval"].items()],
        "costs": [(k, v) for k, v in results["costs"].items() if k.endswith("_s")],
        "advice": _advice(results),
        "samples": {t: _samples(results, t) for t in tasks},
    }


def markdown(v: dict) -> str:
    def table(columns: list[str], rows: list[list[str]]) -> str:
        cells = [columns, ["---"] * len(columns), *rows]
        return "\n".join("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in cells)

    r = v["r"]
    parts = [f"# tunebench strategies: prompting vs RAG vs fine-tuning\n\nLLM `{r['model']['llm']}` "
             f"({r['model']['dtype']}), embedder `{r['model']['embedder']}`, data: {r['data']['source']}, "
             f"wall time {r['wall_s']:.0f} s.\n"]
    for item in v["advice"]:
        parts.append(f"**{item['task']} (updates: {item['updates']}) → {item['recommended'] or 'none'}**\n\n"
                     + "\n".join(f"- {line}" for line in item["rationale"]) + "\n")
    for task, t in v["tasks"].items():
        parts.append(f"## {task} (n={t['n']})\n\n{table(v['task_columns'], t['rows'])}\n")
    if v["fresh"]:
        parts.append(f"## freshness (n={v['fresh']['n']})\n\n{table(v['fresh_columns'], v['fresh_rows'])}\n")
    parts.append(f"## retrieval recall\n\n{table(['retriever', *v['retrieval_keys']], v['retrieval_rows'])}\n")
    parts.append(f"## costs\n\n{table(['what', 's'], [[k, f'{s:.2f}'] for k, s in v['costs']])}\n")
    return "\n".join(parts)


def render_report(results: dict, out: Path) -> tuple[Path, Path]:
    """Write report.html and report.md into `out`; returns their paths."""
    v = view(results)
    figures = {"quality": quality_figure(results)}
    if "knowledge" in v["tasks"]:
        figures["latency"] = latency_figure(results)
    if v["fresh"]:
        figures["freshness"] = freshness_figure(v["fresh"])
    html = environment().get_template("strategies.html.j2").render(**v, figures=figures)
    atomic_write_text(out / "report.html", html)
    atomic_write_text(out / "report.md", markdown(v))
    return out / "report.html", out / "report.md"
