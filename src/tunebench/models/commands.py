"""CLI: `tunebench export RUN --to hf-llava --out DIR`. Heavy imports stay inside the command."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from tunebench.core.errors import UserError

console = Console()
FORMATS = ("hf-llava",)


def export(
    run: Path = typer.Argument(..., help="tunebench run directory (a LLaVA model with a CLIP/SigLIP tower)."),
    to: str = typer.Option("hf-llava", "--to", help="Target layout: hf-llava (LlavaForConditionalGeneration)."),
    out: Path = typer.Option(..., "--out", help="Folder to write (new or empty)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing non-empty --out folder."),
) -> None:
    """Export a trained run as a checkpoint other tools load directly (LoRA adapters merged into a copy)."""
    if to not in FORMATS:
        raise UserError(f"unknown export format '{to}' ({', '.join(FORMATS)})")
    from tunebench.models.export import export_hf_llava

    written = export_hf_llava(run, out, overwrite=overwrite)
    console.print(f"wrote {to} checkpoint to {written}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("export")(export)
