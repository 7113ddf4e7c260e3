"""CLI: `tunebench eval RUN --task ... --data ... --out DIR`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console()


def eval_command(
    run: Path = typer.Argument(..., metavar="RUN", help="A tunebench run folder (or an llava-hf checkpoint folder)."),
    task: str = typer.Option(..., help="vqav2 | gqa | mme | pope"),
    data: list[Path] = typer.Option(..., help="A Shapes folder, or the benchmark's files (repeatable)."),
    out: Path = typer.Option(..., help="Where samples.jsonl and results.json go."),
    image_folder: Path | None = typer.Option(None, help="Image folder of the benchmark files."),
    batch_size: int = typer.Option(16, min=1, help="Prompts per forward pass (results do not depend on it)."),
    scoring: str = typer.Option("generate", help="generate | likelihood (closed answer sets: yes/no)"),
    limit: int | None = typer.Option(None, min=1, help="Only the first N samples."),
    resume: bool = typer.Option(False, help="Skip samples already in OUT/samples.jsonl."),
    device: str | None = typer.Option(None, help="cpu, cuda, cuda:1 (default: CUDA when present)."),
    precision: str = typer.Option("auto", help="auto (bf16 where the hardware computes it natively) | fp32 | bf16"),
) -> None:
    """Evaluate a trained model on one benchmark with its official metric."""
    from tunebench.core.device import pick_device, resolve_precision
    from tunebench.core.lock import claim_folder
    from tunebench.core.paths import input_folder, input_path, optional, output_folder
    from tunebench.data.imagecheck import check_record_images
    from tunebench.evaluation.runner import check_same_task, evaluate
    from tunebench.evaluation.tasks import get_task, load_task_records
    from tunebench.models.checkpoint import load_run

    resolve_precision(precision)  # type: ignore[arg-type]  # an unknown value fails here, before any loading
    spec = get_task(task)
    input_folder(run, "RUN")
    for path in data:
        input_path(path, "--data")
    optional(input_folder, image_folder, "--image-folder")
    output_folder(out)
    records = load_task_records(spec, data, image_folder)
    records = records[:limit] if limit else records
    check_record_images(records)  # a missing or broken image fails before the folder is made
    with claim_folder(out):
        check_same_task(out, spec.name)
        model = load_run(run).to(pick_device(device))
        results = evaluate(model, spec, records, out, batch_size=batch_size, scoring=scoring, resume=resume,
                           model_name=str(run), precision=precision)  # type: ignore[arg-type]
    head = results["headline"]
    console.print(f"{task}: {head['name']} = {head['value']:.2f} on {len(records)} samples "
                  f"({results['timing']['predict_s']:.1f} s) -> {out / 'results.json'}")


def lmms_tasks_command(
    data: list[Path] = typer.Argument(..., metavar="DATA",
                                      help="A Shapes folder, or one benchmark's files (with --task)."),
    out: Path = typer.Option(..., help="Folder for lmms-eval's --include_path (YAMLs + data)."),
    task: list[str] = typer.Option([], help="Benchmarks to write (repeatable; default: all a Shapes folder has)."),
    image_folder: Path | None = typer.Option(None, help="Image folder of the benchmark files."),
    limit: int | None = typer.Option(None, min=1, help="Only the first N samples of each benchmark."),
) -> None:
    """Write lmms-eval task files for tunebench data (run them with lmms-eval --include_path OUT)."""
    from tunebench.core.paths import input_folder, input_path, optional, output_folder
    from tunebench.evaluation.lmms_tasks import BENCHMARKS, write_tasks
    from tunebench.evaluation.tasks import get_task, load_task_records

    names = task or list(BENCHMARKS)
    for path in data:
        input_path(path, "DATA")
    optional(input_folder, image_folder, "--image-folder")
    output_folder(out)
    records = {name: load_task_records(get_task(name), data, image_folder)[:limit] for name in names}
    written = write_tasks(records, out)
    console.print(f"lmms-eval tasks {', '.join(written)} ({sum(map(len, records.values()))} samples) -> {out}\n"
                  f"  lmms-eval --model tunebench --model_args run=RUN --tasks {','.join(written)} "
                  f"--include_path {out}")


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
    app.command("lmms-tasks")(lmms_tasks_command)
