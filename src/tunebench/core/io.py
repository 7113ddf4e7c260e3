"""Atomic, hashed file I/O. A crash mid-write never leaves a truncated result or cache entry behind."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tunebench.core.errors import DataError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, exclusive: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is fsynced and renamed onto `path`.

    `exclusive`: never replace an existing `path` (FileExistsError instead), even one that another process
    creates at the same moment (a hard link is created atomically or not at all).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes it private (0600); a result gets the user's usual mode
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        if exclusive:
            _link_new(tmp_path, path)
        else:
            os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def _umask() -> int:
    """The process's umask (reading it means setting it; set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _link_new(tmp: Path, path: Path) -> None:
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: check, then rename (a narrow race remains)
        if path.exists():
            raise FileExistsError(path) from None
        os.replace(tmp, path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, exclusive: bool = False) -> None:
    with atomic_path(path, exclusive) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str, exclusive: bool = False) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), exclusive)


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2, exclusive: bool = False) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False, ensure_ascii=False) + "\n", exclusive)


def create_json(path: str | os.PathLike, obj: Any) -> bool:
    """Write `obj` to `path` atomically unless a file is there already; True if this call created it."""
    try:
        atomic_write_json(path, obj, exclusive=True)
    except FileExistsError:
        return False
    return True


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file; a syntax error becomes a one-line DataError with line and column."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DataError("file not found", where=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", where=str(path)) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON: {exc.msg}", where=f"{path}:{exc.lineno}:{exc.colno}") from exc


def read_jsonl(path: str | os.PathLike) -> list[Any]:
    """Parse a JSON-lines file; a bad line is reported with its line number."""
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", where=str(path))
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"invalid JSON: {exc.msg}", where=f"{path}:{lineno}:{exc.colno}") from exc
    return rows


def append_jsonl(path: str | os.PathLike, row: Any) -> None:
    """Append one record and flush it to disk, so a killed job keeps every finished record."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_json(obj: Any) -> str:
    """A stable content hash of a JSON-serialisable object (key order does not matter)."""
    return sha256_bytes(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8"))


def sha256_tree(root: str | os.PathLike, pattern: str = "*") -> str:
    """Hash every file under `root` (relative path + content), in sorted order."""
    root = Path(root)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob(pattern) if p.is_file()):
        digest.update(str(path.relative_to(root)).encode("utf-8"))
        digest.update(sha256_file(path).encode("ascii"))
    return digest.hexdigest()
