"""One live process per output folder: a second claim is refused naming the holder, a dead holder's lock is
taken over, a released lock leaves no file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tunebench.core.lock import LOCK_FILE, claim_folder
from tunebench.core.paths import EnvironmentProblem

HOLD = """
import sys, time
from tunebench.core.lock import claim_folder
with claim_folder(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def _holder(folder) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_claim_is_refused_and_a_released_lock_leaves_nothing(tmp_path):
    out = tmp_path / "new" / "out"
    with claim_folder(out):
        assert out.is_dir() and (out / LOCK_FILE).read_text().startswith(f"{os.getpid()} ")
        with pytest.raises(EnvironmentProblem, match=rf"in use by process {os.getpid()} "), claim_folder(out):
            pass
    assert list(out.iterdir()) == []
    with claim_folder(out):  # free again
        pass


def test_the_lock_of_a_killed_process_is_taken_over(tmp_path):
    holder = _holder(tmp_path)
    with pytest.raises(EnvironmentProblem, match=rf"in use by process {holder.pid} "), claim_folder(tmp_path):
        pass
    os.kill(holder.pid, signal.SIGKILL)  # no cleanup runs: the file stays, the kernel drops the lock
    holder.wait()
    assert (tmp_path / LOCK_FILE).read_text().startswith(f"{holder.pid} ")
    with claim_folder(tmp_path):
        assert (tmp_path / LOCK_FILE).read_text().startswith(f"{os.getpid()} ")


def test_a_lock_file_left_by_a_dead_process_is_not_a_lock(tmp_path):
    (tmp_path / LOCK_FILE).write_text("999999 tunebench eval run --out x\n")
    with claim_folder(tmp_path):
        assert (tmp_path / LOCK_FILE).read_text().startswith(f"{os.getpid()} ")
