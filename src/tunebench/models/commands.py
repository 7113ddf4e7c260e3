"""CLI: `tunebench export RUN --to hf-llava --out DIR`. Heavy imports stay inside the command."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from tunebench.core.errors import UserError

console = Console()
FORMATS = ("hf-llava",)


def export(
    run: Path = typer.Argument(..., metavar="RUN",
                               help="tunebench run directory (a LLaVA model with a CLIP/SigLIP tower)."),
    to: str = typer.Option("hf-llava", "--to", help="Target layout: hf-llava (LlavaForConditionalGeneration)."),
    out: Path = typer.Option(..., "--out", help="Folder to write (new or empty)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing non-empty --out folder."),
) -> None:
    """Export a trained run as a checkpoint other tools load directly (LoRA adapters merged into a copy)."""
    if to not in FORMATS:
        raise UserError(f"unknown export format '{to}' ({', '.join(FORMATS)})")
    from tunebench.core.paths import input_folder
    from tunebench.models.export import export_hf_llava

    input_folder(run, "RUN")
    if out.exists() and not out.is_dir():
        raise UserError("names a file; give a folder (new or empty)", where=f"--out {out}")
    written = export_hf_llava(run, out, overwrite=overwrite)
    console.print(f"wrote {to} checkpoint to {written}", soft_wrap=True)


def model_info(
    arch: str = typer.Option("llava", help="llava | minigpt4, or a run directory with --run."),
    run: Path | None = typer.Option(None, help="Show a trained run instead of a freshly built model."),
    vision: str = typer.Option("efficientnet-lite0", help="Vision tower name or local folder."),
    llm: str = typer.Option("smollm2-135m-instruct", help="LLM name or local folder."),
) -> None:
    """Build a design on the given parts (or load a run) and print its parameter table per module."""
    from rich.table import Table

    from tunebench.core.paths import input_folder, optional
    from tunebench.models.build import build_vlm
    from tunebench.models.checkpoint import load_run
    from tunebench.models.config import VLMConfig

    if run is None and arch not in ("llava", "minigpt4"):
        raise UserError(f"unknown design '{arch}' (llava, minigpt4)", where="--arch")
    optional(input_folder, run, "--run")
    model = load_run(run) if run is not None else build_vlm(VLMConfig(arch=arch, vision=vision, llm=llm))
    table = Table(title=f"{model.cfg.arch}: {model.cfg.vision} -> connector -> {model.cfg.llm}")
    for col in ("module", "parameters", "trainable", "frozen"):
        table.add_column(col, justify="left" if col == "module" else "right")
    for row in model.parameter_table():
        table.add_row(row["module"], f"{row['parameters']:,}", f"{row['trainable']:,}",
                      f"{row['parameters'] - row['trainable']:,}")
    console.print(table)
    console.print(f"image tokens per image: {model.num_image_tokens}")


def register(app: typer.Typer) -> None:
    app.command("export")(export)
    app.command("model-info")(model_info)
