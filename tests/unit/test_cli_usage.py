"""Usage errors through the real entry point: typer's own (vendored click) exceptions print a usage line and
exit 2, never a traceback; `--version` and the documented exit codes."""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers.procs import REPO, cli, subprocess_env


def _run(args: list[str], tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run(cli(args), env=subprocess_env(tmp_path / "cache"), cwd=REPO, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize(("args", "says"), [
    (["train", "--lr", "1e-4"], "No such option: --lr"),
    (["eval", "--limit", "ten", "run"], "Invalid value for '--limit'"),
    (["train"], "Missing option '--out'"),
    (["eval", "run", "--task", "pope", "--data", "d", "--out", "o", "--batch-size", "0"],
     "Invalid value for '--batch-size'"),
    (["bench", "--profile"], "requires an argument"),
])
def test_a_usage_error_is_a_usage_line_and_exit_2(args, says, tmp_path):
    proc = _run(args, tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert says in proc.stderr and len(proc.stderr.strip().splitlines()) <= 4  # at most usage, hint, blank, error


def test_bare_tunebench_shows_the_help_with_the_exit_codes_and_exits_2(tmp_path):
    proc = _run([], tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr + proc.stdout
    shown = " ".join((proc.stdout + proc.stderr).split())  # the help is wrapped to the terminal's width
    assert "Usage: tunebench" in shown and "2 bad usage or config, 130 interrupted" in shown


def test_version(tmp_path):
    from importlib.metadata import version

    proc = _run(["--version"], tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == f"tunebench {version('tunebench')}"


def test_sigterm_ends_a_command_like_ctrl_c_with_the_resume_line_and_exit_130(tmp_path):
    import signal
    import time

    proc = subprocess.Popen(cli(["data", "shapes", "--out", tmp_path / "shapes"]), env=subprocess_env(tmp_path / "c"),
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any((tmp_path / "shapes").rglob("*.png")) and time.monotonic() < deadline:
        time.sleep(0.1)  # the command is under way: its first images are written
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted: finished work is saved" in err and "Traceback" not in out + err
