"""An output folder belongs to one live process at a time: two runs writing one folder would lose results."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from tunebench.core.paths import EnvironmentProblem

LOCK_FILE = ".tunebench.lock"


@contextlib.contextmanager
def claim_folder(folder: Path) -> Iterator[Path]:
    """Hold `folder` (created if needed) for this process until the block ends; a second process is refused
    with one line.

    The lock is an advisory `flock` on `folder/.tunebench.lock`, which the kernel drops when its holder dies,
    so the lock of a killed process is taken over without asking. The file records the holder's pid and command.
    Under a distributed launcher (torchrun, accelerate) rank 0 claims the folder for the whole run.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if os.environ.get("RANK", "0") != "0":  # a distributed run's other ranks share the folder rank 0 holds
        yield folder
        return
    path = folder / LOCK_FILE
    fd = _lock(path)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {_command()}\n".encode())
        yield folder
    finally:
        path.unlink(missing_ok=True)  # removed while still held, so no one can lock a file that is going away
        os.close(fd)


def _command() -> str:
    """This process's command line, short enough for an error message."""
    line = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
    return line if len(line) <= 120 else line[:117] + "..."


def _lock(path: Path) -> int:
    """An fd holding the lock on the file now at `path` (the file may be replaced while we wait for it)."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode(errors="replace").strip() or "another process"
            os.close(fd)
            pid, _, command = holder.partition(" ")
            raise EnvironmentProblem(f"in use by process {pid} ({command or 'tunebench'}); wait for it to end or "
                                     "give another folder", where=str(path.parent)) from None
        if _same_file(fd, path):
            return fd
        os.close(fd)  # the holder removed the file as we locked it: lock the one there now


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False
