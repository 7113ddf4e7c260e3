"""CLI: `tunebench components` and `tunebench chat`."""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def _count_params(obj) -> tuple[int, str]:
    module = getattr(obj, "model", obj)
    params = list(module.parameters())
    return sum(p.numel() for p in params), str(params[0].dtype).replace("torch.", "")


def components() -> None:
    """Load every bundled pretrained part and show what was loaded."""
    # Import the heavy libraries first so the timings below measure loading, not Python imports.
    import tunebench.components.embedder
    import tunebench.components.llm
    import tunebench.components.vision  # noqa: F401
    from tunebench.components.registry import REGISTRY

    table = Table(title="tunebench bundled parts")
    for column in ("name", "kind", "parameters", "dtype", "load s", "cache"):
        table.add_column(column, justify="right" if column in ("parameters", "load s") else "left")
    for spec in REGISTRY.values():
        start = time.perf_counter()
        part = spec.loader()
        seconds = time.perf_counter() - start
        n_params, dtype = _count_params(part)
        hit = getattr(part, "cache_hit", None)
        cache = "-" if hit is None else ("hit" if hit else "miss (built)")
        table.add_row(spec.name, spec.kind, f"{n_params / 1e6:.1f}M", dtype, f"{seconds:.2f}", cache)
    console.print(table)


def chat(
    question: str = typer.Argument(..., metavar="QUESTION", help="What to ask."),
    llm: str = typer.Option("smollm2-135m-instruct", help="Registered LLM name or local folder."),
    max_new_tokens: int = typer.Option(64, help="Generation length limit."),
) -> None:
    """Answer one question with the real LLM through its own chat template (greedy)."""
    import torch

    from tunebench.components.registry import load_llm

    loaded = load_llm(llm)
    tok = loaded.tokenizer
    inputs = tok.apply_chat_template(
        [{"role": "user", "content": question}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.inference_mode():
        out = loaded.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                    pad_token_id=tok.pad_token_id)
    console.print(tok.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip())


def register(app: typer.Typer) -> None:
    app.command("components")(components)
    app.command("chat")(chat)
