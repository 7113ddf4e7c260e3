"""Paths a command is given, checked before anything loads; file-system errors said in one line."""

from __future__ import annotations

import os
import re
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from tunebench.core.errors import DataError, UserError


class EnvironmentProblem(UserError):
    """The machine refuses what the command needs (a folder it may not write, a full disk, a folder in use)."""

    exit_code = 1


def output_folder(path: Path, flag: str = "--out") -> Path:
    """`path` if it is, or can be made, a folder this process may write in; else one line naming the flag.
    Creates nothing: a command that then fails on its data leaves no empty folder behind."""
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "names a file" if existing == path else f"{existing} on its way is a file"
        raise UserError(f"{what}; give a folder (new or existing)", where=f"{flag} {path}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise EnvironmentProblem(f"cannot write in {existing} (permission denied)", where=f"{flag} {path}")
    return path


def input_file(path: Path, flag: str) -> Path:
    """`path` as an existing, readable file; else one line naming the flag."""
    path = Path(path)
    if path.is_dir():
        raise DataError("is a folder; give a file", where=f"{flag} {path}")
    if not path.exists():
        raise DataError("file not found", where=f"{flag} {path}")
    if not os.access(path, os.R_OK):
        raise EnvironmentProblem("cannot read this file (permission denied)", where=f"{flag} {path}")
    return path


def input_folder(path: Path, flag: str) -> Path:
    """`path` as an existing folder; else one line naming the flag."""
    path = Path(path)
    if not path.exists():
        raise DataError("folder not found", where=f"{flag} {path}")
    if not path.is_dir():
        raise DataError("is a file; give a folder", where=f"{flag} {path}")
    return path


def input_path(path: Path, flag: str) -> Path:
    """`path` as an existing file or folder (a data argument that takes either); else one line."""
    path = Path(path)
    return input_folder(path, flag) if path.is_dir() else input_file(path, flag)


def optional(check: Callable[[Path, str], Path], path: Path | None, flag: str) -> Path | None:
    """`check(path, flag)` when the option was given."""
    return None if path is None else check(path, flag)


# What the innermost file-system call was doing, by the name it was called with.
_OPERATIONS = {
    "mkdir": "create the folder", "makedirs": "create the folder", "mkstemp": "create a file in",
    "open": "open", "read_text": "read", "read_bytes": "read", "write_text": "write", "write_bytes": "write",
    "replace": "replace", "rename": "rename", "link": "write", "unlink": "remove", "rmtree": "remove",
    "remove": "remove", "rmdir": "remove", "copyfile": "copy", "copytree": "copy", "copy2": "copy",
    "iterdir": "list", "listdir": "list", "scandir": "list", "stat": "read", "fsync": "write",
    "save_file": "write", "load_file": "read", "safe_open": "read",
}
_CALL = re.compile(r"\b(" + "|".join(_OPERATIONS) + r")\(")


def describe_os_error(exc: OSError) -> str:
    """One line for a file-system error: the operation, the path(s) and the system's reason."""
    paths = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
    reason = exc.strerror or str(exc)
    operation = _operation(exc.__traceback__)
    if not paths:
        return f"{operation}: {reason}" if operation else reason
    return f"cannot {operation or 'use'} {paths}: {reason}"


def _operation(tb: TracebackType | None) -> str | None:
    """The innermost frame whose function name, or the call on whose line, says what was being done."""
    for frame in reversed(traceback.extract_tb(tb)):
        if frame.name in _OPERATIONS:
            return _OPERATIONS[frame.name]
        call = _CALL.search(frame.line or "")
        if call:
            return _OPERATIONS[call.group(1)]
    return None
