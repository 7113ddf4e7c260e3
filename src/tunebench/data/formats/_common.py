"""Small helpers the format readers share: typed field access with precise errors, image lookup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunebench.core.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG", ".bmp", ".webp")


def require(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """obj[key], which must exist and be of `kind`; otherwise a DataError naming the place."""
    if not isinstance(obj, dict):
        raise DataError(f"expected a JSON object, got {type(obj).__name__}", where=where)
    if key not in obj:
        raise DataError(f"missing field {key!r}", where=where)
    value = obj[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise DataError(f"field {key!r} must be {_names(kinds)}, got bool", where=where)
    if not isinstance(value, kinds):
        raise DataError(f"field {key!r} must be {_names(kinds)}, got {type(value).__name__}", where=where)
    return value


def _names(kinds: tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in kinds)


def require_list(obj: Any, key: str, where: str) -> list:
    return require(obj, key, list, where)


def image_path(folder: str | Path | None, name: str) -> str:
    """`name` inside `folder` when one is given (so the record's image can be opened directly)."""
    return str(Path(folder) / name) if folder is not None else name


def find_image(folder: str | Path | None, stem: str, default_suffix: str = ".jpg") -> str:
    """The image file named `stem` plus any usual suffix in `folder`; stem + default when none exists.

    Real releases use .jpg, the synthetic world .png: both resolve with the same naming rule.
    """
    if folder is not None:
        for suffix in IMAGE_SUFFIXES:
            candidate = Path(folder) / f"{stem}{suffix}"
            if candidate.is_file():
                return str(candidate)
    return image_path(folder, stem + default_suffix)
