"""Shared report plumbing: a Jinja environment that escapes everything, embedded figures, number cells.

Every number a report shows goes through `Cells.num(key)`, which looks the value up in results.json by
its dotted key and records (key, text). The HTML carries the key on each number, so a test can check
that the page shows exactly what results.json holds.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import jinja2


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tunebench.report", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "j2"), default=True),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    return env


def lookup(results: dict, key: str) -> Any:
    node: Any = results
    for part in key.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def fmt(value: Any, digits: int = 1) -> str:
    """Thousands separators and `digits` decimals; a negative `digits` means scientific notation with
    -digits significant figures (learning rates)."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int) and digits >= 0:
        return f"{value:,}"
    if isinstance(value, int | float):
        return f"{value:.{-digits - 1}e}" if digits < 0 else f"{value:,.{digits}f}"
    return str(value)


class Cells:
    """Formats numbers from results.json by key and remembers every one it rendered."""

    def __init__(self, results: dict):
        self.results = results
        self.rendered: list[tuple[str, str]] = []

    def text(self, key: str, digits: int = 1) -> str:
        out = fmt(lookup(self.results, key), digits)
        self.rendered.append((key, out))
        return out

    def num(self, key: str, digits: int = 1):
        """HTML: the number in a span that names its results.json key (Markup: safe to insert)."""
        text = self.text(key, digits)
        return jinja2.utils.markupsafe.Markup('<span class="n" data-key="{}" data-digits="{}">{}</span>').format(
            key, digits, text)


def figure_uri(fig) -> str:
    """A matplotlib figure as an embedded PNG data URI (the report works offline, as one file)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def image_uri(path: str, size: int = 160) -> str | None:
    """A thumbnail of a data image as a data URI; None if the file is gone."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            img.thumbnail((size, size))
            buf = io.BytesIO()
            img.save(buf, format="PNG")
    except OSError:
        return None
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
