"""CLI: `tunebench bench`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console()


def bench_command(
    out: Path = typer.Option(Path("bench-out"), help="Output folder (results.json, report.md, report.html)."),
    profile: str = typer.Option("default", help="smoke | default | full"),
    config: Path | None = typer.Option(None, help="YAML overriding the profile: parts, data, arms, sizes."),
    workers: int | None = typer.Option(None, min=1, help="Arms trained at once, one process each (CPU; 1 = in turn)."),
) -> None:
    """LLaVA-1.5 vs MiniGPT-4 on the same parts and data, end to end, with a report. Rerun to resume."""
    from tunebench.bench.config import load_config
    from tunebench.bench.pipeline import run_bench
    from tunebench.bench.results import build_results
    from tunebench.core.lock import claim_folder
    from tunebench.core.paths import output_folder

    cfg = load_config(profile, config)
    if workers is not None:
        cfg.workers = workers
    with claim_folder(output_folder(out)):
        raw = run_bench(cfg, out)
        paths = _publish(build_results(cfg, raw, out), out)
    console.print(f"report: {paths['html']}  (also {paths['md']}, numbers in {out / 'results.json'})")


def _publish(results: dict, out: Path) -> dict[str, Path]:
    """Attach the perception ceiling measured for this bench (if any), write the verdict, results.json and
    the reports."""
    from tunebench.bench.ceiling import ceiling_for_report
    from tunebench.bench.verdict import verdict
    from tunebench.core.io import atomic_write_json
    from tunebench.report.bench import write_report

    results["ceiling"] = ceiling_for_report(results, out)
    results["verdict"] = verdict(results)
    atomic_write_json(out / "results.json", results)
    paths = write_report(results, out)
    console.print(f"[bold]{results['verdict']['sentences'][0]}[/]")
    return paths


def ceiling_command(
    out: Path = typer.Option(Path("bench-out"), help="The bench's output folder (its data is reused or generated)."),
    profile: str = typer.Option("default", help="smoke | default | full: the data and stage-2 recipe to copy"),
    config: Path | None = typer.Option(None, help="YAML overriding the profile, as for `tunebench bench`."),
) -> None:
    """Perception ceiling: the bench's LLM trained and asked as the LLaVA arm is, each image given in words."""
    from tunebench.bench.ceiling import run_ceiling
    from tunebench.bench.config import load_config
    from tunebench.core.lock import claim_folder
    from tunebench.core.paths import output_folder

    cfg = load_config(profile, config)
    with claim_folder(output_folder(out)):
        results = run_ceiling(cfg, out)
        _show_ceiling(results, out)
        _add_to_report(out)


def _show_ceiling(results: dict, out: Path) -> None:
    from rich.table import Table

    table = Table(title="Perception ceiling (scene description instead of the image)")
    for column in ("benchmark", "metric", "questions", "blind baseline", "ceiling", "95% CI"):
        table.add_column(column)
    for task, score in results["scores"].items():
        blind = results["blind_baseline"].get(task)
        table.add_row(task, score["metric"], str(score["n_questions"]), "-" if blind is None else f"{blind:.1f}",
                      f"{score['value']:.1f}", f"[{score['low']:.1f}, {score['high']:.1f}]")
    console.print(table)
    console.print(f"training: {results['train']['steps']} steps; numbers in {out / 'ceiling' / 'results.json'}")


def _add_to_report(out: Path) -> None:
    """Re-render the bench's report in `out` (if there is one) with this ceiling, or without a ceiling when the
    report is for other data, LLM, recipe or scoring (a ceiling it showed before is gone from the folder)."""
    from tunebench.core.io import read_json

    if not (out / "results.json").is_file():
        console.print("no bench results here yet: `tunebench bench` with the same --out will show the ceiling")
        return
    results = read_json(out / "results.json")
    if "parts" not in results:
        console.print("the bench results here predate weight hashes: rerun `tunebench bench` with the same --out "
                      "(every stage is cached) to show the ceiling")
        return
    paths = _publish(results, out)  # sets results["ceiling"]: this ceiling, or None when it does not match
    console.print(f"added to the report: {paths['html']}" if results["ceiling"] is not None else
                  "the bench results here are for other data, LLM, recipe or scoring: the ceiling is not shown")


def register(app: typer.Typer) -> None:
    app.command("bench")(bench_command)
    app.command("ceiling")(ceiling_command)
