"""CLI: `tunebench strategies` (measure) and `tunebench advise` (recommend from the measurements)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

# Piped output gets a wide table instead of Rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 150)

DATA_HELP = """
\b
Your own data (JSON lines, UTF-8, one object per line):
  --corpus   {"id": "doc-1", "title": "...", "text": "..."}
  --qa       {"id": "q-1", "question": "...", "answers": ["gold", "alias"],
              "split": "train" | "test"}
             optional "doc_ids": ["doc-1"] (sources, for retrieval recall)
  --updates  documents that replace corpus documents with the same id;
             questions with "split": "fresh" (and optional "stale_answers")
             are then asked after the update

Without --corpus/--qa a fictional world is generated (seeded). A bad line stops the run with file:line
and the field at fault. More in docs/strategies.md.
"""


def _table(title: str, columns: list[str], rows: list[list[str]]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    return table


def print_results(results: dict) -> None:
    from tunebench.strategies.summary import (
        FRESH_COLUMNS,
        TASK_COLUMNS,
        freshness_table_rows,
        pct,
        task_table_rows,
    )

    for task in ("knowledge", "format"):
        if results["tasks"].get(task, {}).get("strategies"):
            console.print(_table(f"{task} (n={results['tasks'][task]['n_test']})", TASK_COLUMNS,
                                 task_table_rows(results["tasks"][task])))
    if "freshness" in results["tasks"]:
        fresh = results["tasks"]["freshness"]
        console.print(_table(f"freshness (n={fresh['n']} changed facts)", FRESH_COLUMNS, freshness_table_rows(fresh)))
    rows = [[mode, *[pct(v) for v in recall.values()]] for mode, recall in results["retrieval"].items()]
    keys = list(next(iter(results["retrieval"].values())).keys())
    console.print(_table("retrieval recall on knowledge test questions", ["retriever", *keys], rows))
    costs = {k: v for k, v in results["costs"].items() if k.endswith("_s")}
    console.print(_table("one-off and update costs (seconds)", ["what", "s"],
                         [[k, f"{v:.2f}"] for k, v in costs.items()]))


def strategies(
    out: Path = typer.Option(..., "--out", help="Output folder (results.json, report.html, predictions, index)."),
    profile: str = typer.Option("default", help="smoke (a minute or two) or default (under 20 min on 2 CPU cores)."),
    config: Path | None = typer.Option(None, help="YAML file overriding profile settings."),
    corpus: Path | None = typer.Option(None, help="Your corpus JSONL (format above)."),
    qa: Path | None = typer.Option(None, help="Your questions JSONL (format above)."),
    updates: Path | None = typer.Option(None, help="Changed documents JSONL for the freshness task."),
    llm: str | None = typer.Option(None, help="Registered LLM name or local Hugging Face folder."),
    seed: int | None = typer.Option(None, help="Seed for data generation, training and bootstrap."),
    threads: int | None = typer.Option(None, help="CPU threads for torch (0: torch's default)."),
) -> None:
    """Measure prompting, RAG and fine-tuning side by side (quality with 95% CIs, latency, cost, updates)."""
    from tunebench.core.lock import claim_folder
    from tunebench.core.paths import input_file, optional, output_folder
    from tunebench.report.strategies import render_report
    from tunebench.strategies.config import load_config
    from tunebench.strategies.pipeline import run_strategies

    cfg = load_config(profile, config, llm=llm, seed=seed, threads=threads)
    for path, flag in ((corpus, "--corpus"), (qa, "--qa"), (updates, "--updates")):
        optional(input_file, path, flag)
    with claim_folder(output_folder(out)):
        results = run_strategies(cfg, out, corpus, qa, updates)
        print_results(results)
        html, md = render_report(results, out)
    console.print(f"wall time {results['wall_s']:.0f} s; results: {out / 'results.json'}; report: {html} ({md.name})")


strategies.__doc__ = (strategies.__doc__ or "") + "\n" + DATA_HELP


def advise(
    results: Path = typer.Argument(..., metavar="RESULTS", help="results.json written by `tunebench strategies`."),
    task: str = typer.Option("knowledge", help="knowledge or format."),
    update_frequency: str = typer.Option("never", help="How often the knowledge changes: never, yearly, monthly, "
                                                       "weekly or daily."),
    latency_budget_ms: float | None = typer.Option(None, help="Largest acceptable p95 latency per request."),
    labelled_examples: int | None = typer.Option(None, help="Labelled question/answer pairs you have."),
    compute_budget: str | None = typer.Option(None, help="Compute for setup + a year of updates on the measured "
                                                         "machine, e.g. 90s, 15m, 2h."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the advice as JSON here."),
) -> None:
    """Recommend a strategy from measured results and your constraints, showing the evidence rows."""
    from tunebench.core.io import atomic_write_json
    from tunebench.core.paths import input_file
    from tunebench.strategies.advisor import Constraints, parse_duration, strategies_results
    from tunebench.strategies.advisor import advise as make_advice

    constraints = Constraints(update_frequency, latency_budget_ms, labelled_examples, parse_duration(compute_budget))
    advice = make_advice(strategies_results(input_file(results, "RESULTS")), constraints, task)
    rows = [[e.strategy, e.status, f"{100 * e.quality:.1f} [{100 * e.quality_low:.1f}, {100 * e.quality_high:.1f}]",
             "-" if e.fresh_f1 is None else f"{100 * e.fresh_f1:.1f}",
             "-" if e.latency_p95_ms is None else f"{e.latency_p95_ms:.0f}", f"{e.one_off_s:.1f}",
             f"{e.update_s:.1f}", f"{e.yearly_compute_s:.0f}", "; ".join(e.reasons)] for e in advice.evidence]
    console.print(_table(f"evidence: {task}", ["strategy", "status", f"{advice.metric.upper()} % [95% CI]",
                                               "fresh F1 %", "p95 ms", "one-off s", "update s", "s/year", "why out"],
                         rows))
    console.print(f"[bold]recommendation:[/] {advice.recommended or 'none'}")
    for line in advice.rationale:
        console.print(f"  - {line}", highlight=False)
    if json_out:
        atomic_write_json(json_out, advice.to_dict())


def register(app: typer.Typer) -> None:
    app.command("strategies")(strategies)
    app.command("advise")(advise)
