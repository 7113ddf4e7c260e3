"""Safe image references: a path from a data file must stay inside the image folder, and the file
must decode without being absurdly large (its pixel count is read from the header before decoding).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath

from PIL import Image, UnidentifiedImageError

from tunebench.core.errors import DataError
from tunebench.data.records import Record

DEFAULT_MAX_PIXELS = 40_000_000  # below Pillow's own bomb limit, far above any real training image


class ImageProblem(ValueError):
    """Why an image reference cannot be used; the message is meant for the user."""


def resolve_inside(folder: str | Path, relative: str) -> Path:
    """The file `relative` names inside `folder`; refuses absolute paths, '..', and symlinks."""
    posix, windows = PurePosixPath(relative), PureWindowsPath(relative)
    if posix.is_absolute() or windows.is_absolute() or windows.drive:
        raise ImageProblem(f"absolute path {relative!r} is not allowed; give a path inside the image folder")
    if ".." in posix.parts or ".." in windows.parts:
        raise ImageProblem(f"path {relative!r} uses '..' and could leave the image folder")
    folder = Path(folder)
    root = folder.resolve()
    current = folder
    for part in posix.parts:
        current = current / part
        if current.is_symlink():
            raise ImageProblem(f"path {relative!r} goes through the symlink {part!r}; symlinks are refused")
    resolved = (folder / relative).resolve()
    if not resolved.is_relative_to(root):
        raise ImageProblem(f"path {relative!r} resolves outside the image folder")
    if not resolved.exists():
        raise ImageProblem(f"image not found: {relative!r} in the image folder")
    if not resolved.is_file():
        raise ImageProblem(f"{relative!r} is not a file")
    return resolved


def check_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS, decode: bool = True) -> tuple[int, int]:
    """(width, height) of a readable image; ImageProblem when it is unreadable or too large."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageProblem(f"{width}x{height} = {width * height} pixels, above the limit of "
                                       f"{max_pixels} (possible decompression bomb)")
                if decode:
                    image.load()
        except ImageProblem:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageProblem(f"refused as a decompression bomb: {exc}") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise ImageProblem(f"cannot decode the image: {exc}") from exc
    return width, height


def check_record_images(records: Iterable[Record], max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Every image the records name exists and is a readable image (its header; each file once); otherwise a
    one-line DataError naming the file and the first record that uses it."""
    seen: set[str] = set()
    for record in records:
        if not record.image or record.image in seen:
            continue
        seen.add(record.image)
        try:
            if not Path(record.image).is_file():
                raise ImageProblem("image not found")
            check_image(Path(record.image), max_pixels, decode=False)
        except (ImageProblem, OSError) as exc:
            raise DataError(f"{record.image}: {exc}", where=f"record {record.id}") from None
