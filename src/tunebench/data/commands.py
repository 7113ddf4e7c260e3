"""CLI: `tunebench data shapes | validate | convert`. Heavy imports stay inside the commands."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console()
data_app = typer.Typer(name="data", help="Generate, validate and convert data sets.", no_args_is_help=True,
                       rich_markup_mode=None)


@data_app.command("shapes")
def shapes(
    out: Path = typer.Option(..., "--out", help="Output folder (new or empty)."),
    seed: int = typer.Option(0, "--seed", help="Seed of every random choice."),
    train: int = typer.Option(2000, "--train", help="Training scenes."),
    test: int = typer.Option(500, "--test", help="Held-out test scenes."),
    image_size: int = typer.Option(224, "--image-size", help="Image side in pixels."),
    texture: bool = typer.Option(True, "--texture/--no-texture", help="Mottled background with grain."),
    workers: int = typer.Option(1, "--workers", help="Rendering processes (output is identical for any)."),
    force: bool = typer.Option(False, "--force", help="Replace an earlier shapes output in --out."),
    max_objects: int = typer.Option(6, "--max-objects", help="Objects per scene: 1 to this many (at most 6)."),
    questions_per_image: int = typer.Option(4, "--questions-per-image", help="Stage-2 questions per image."),
    question_mix: list[str] = typer.Option([], "--question-mix", help="TYPE=WEIGHT: a stage-2 question type's "
                                           "relative weight (repeatable; e.g. exist_shape=2)."),
) -> None:
    """Render the Shapes world and write training and evaluation files in the public formats."""
    import time

    from tunebench.data.shapes.generate import ShapesConfig, generate

    start = time.perf_counter()
    manifest = generate(ShapesConfig(out, seed, train, test, image_size, texture, max(1, workers), force,
                                      max_objects, questions_per_image, parse_mix(question_mix)))
    seconds = time.perf_counter() - start
    console.print(f"wrote {train} train + {test} test scenes to {out} in {seconds:.1f} s", soft_wrap=True)
    for task, head in manifest["blind_baseline"].items():
        extra = f", mean accuracy {head['mean_accuracy']:.1f}" if "mean_accuracy" in head else ""
        console.print(f"  blind baseline {task:6s} {head['name']}: {head['value']:.1f} / {head['max']:.0f} "
                      f"({head['percent_of_max']:.1f}% of max{extra})", soft_wrap=True)


@data_app.command("validate")
def validate(
    file: Path = typer.Argument(..., metavar="FILE", help="LLaVA conversation JSON."),
    image_folder: Path = typer.Option(..., "--image-folder", help="Folder the image paths are relative to."),
    max_tokens: int = typer.Option(2048, "--max-tokens", help="Longest allowed record, in tokens."),
    tokenizer: str | None = typer.Option(None, "--tokenizer", help="Tokenizer name or folder (default: estimate)."),
    image_tokens: int = typer.Option(0, "--image-tokens", help="Tokens one image takes (576 for LLaVA-1.5)."),
) -> None:
    """Check a LLaVA-format file without training; lists every problem, exit code 1 if any."""
    from tunebench.core.paths import input_file, input_folder
    from tunebench.data.validate import validate_llava_file

    input_file(file, "FILE")
    input_folder(image_folder, "--image-folder")
    report = validate_llava_file(file, image_folder, max_tokens=max_tokens, tokenizer=tokenizer,
                                 image_tokens=image_tokens)
    for problem in report.problems:
        console.print(f"[red]problem[/] {problem.line()}", highlight=False, soft_wrap=True)
    style = "green" if report.ok else "bold red"
    console.print(f"[{style}]{report.summary()}[/]", highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


@data_app.command("convert")
def convert(
    inputs: list[Path] = typer.Argument(..., metavar="INPUTS", help="Input file(s) or folder of the source format."),
    source: str = typer.Option(..., "--from", help="vqav2, gqa, mme, mme-parquet, pope, llava or ccsbu."),
    out: Path = typer.Option(..., "--out", help="LLaVA JSON to write."),
    image_folder: Path | None = typer.Option(None, "--image-folder", help="Where the source's images are."),
    relative_to: Path | None = typer.Option(
        None, "--relative-to", help="Write image paths relative to this folder (default: --image-folder)."),
) -> None:
    """Convert a benchmark file to LLaVA conversation JSON for fine-tuning."""
    from tunebench.core.errors import UserError
    from tunebench.core.paths import input_folder, input_path, optional, output_folder
    from tunebench.data.formats.convert import to_llava
    from tunebench.data.formats.llava import write_llava
    from tunebench.data.formats.loading import check_format, load_format

    check_format(source)
    for path in inputs:
        input_path(path, "INPUTS")
    optional(input_folder, image_folder, "--image-folder")
    if out.is_dir():
        raise UserError("names a folder; give the JSON file to write", where=f"--out {out}")
    output_folder(out.parent, "--out")
    records = load_format(source, inputs, image_folder)
    base = relative_to or image_folder or (inputs[0] if source in ("mme", "ccsbu") else None)
    write_llava(out, to_llava(records, base))
    relative = f" (images relative to {base})" if base else ""
    console.print(f"wrote {len(records)} records to {out}{relative}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")


def parse_mix(items: list[str]) -> dict[str, float]:
    """`TYPE=WEIGHT` options as a mapping (checked against the question types when the world is generated)."""
    from tunebench.core.errors import DataError

    mix = {}
    for item in items:
        name, _, weight = item.partition("=")  # no "=": an empty weight, refused below
        try:
            mix[name.strip()] = float(weight)
        except ValueError:
            raise DataError(f"--question-mix takes TYPE=WEIGHT, got {item!r}") from None
    return mix
