"""Run tunebench in real subprocesses: start, wait for a file condition, SIGKILL, free ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def subprocess_env(cache: Path, **extra: str) -> dict[str, str]:
    """Environment of a child: its own feature cache, offline, one thread (deterministic and polite)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_"))}
    src = str(REPO / "src")
    env.update(TUNEBENCH_CACHE=str(cache), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p), TERM="dumb",
               COLUMNS="120", **extra)
    return env


def cli(args: Sequence[str]) -> list[str]:
    """`python -m tunebench.cli ARGS` with this interpreter."""
    return [sys.executable, "-m", "tunebench.cli", *map(str, args)]


def start(cmd: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as fh:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(list(cmd), env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO)


def run(cmd: Sequence[str], env: dict[str, str], log: Path, timeout: float = 120) -> None:
    """Run to completion; on failure the assertion shows the end of the child's output."""
    proc = start(cmd, env, log)
    rc = proc.wait(timeout=timeout)
    assert rc == 0, f"{' '.join(map(str, cmd))} exited {rc}:\n{tail(log)}"


def kill_when(proc: subprocess.Popen, condition: Callable[[], bool], log: Path, timeout: float = 90,
              poll_s: float = 0.005) -> None:
    """SIGKILL `proc` as soon as `condition()` holds; fails if the child ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            return
        if proc.poll() is not None:
            raise AssertionError(f"the child exited ({proc.returncode}) before it could be killed:\n{tail(log)}")
        time.sleep(poll_s)
    proc.kill()
    proc.wait()
    raise AssertionError(f"condition not reached within {timeout} s:\n{tail(log)}")


def jsonl_rows(path: Path) -> list[dict]:
    """Complete JSON lines of a file that another process may be appending to."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no output)"
