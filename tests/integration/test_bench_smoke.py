"""The smoke profile end to end, as CI runs it: the report shows exactly results.json's numbers, loads in
a headless browser without console errors, and a rerun redoes only what is missing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tunebench.core.io import read_json
from tunebench.evaluation.tasks import task_label
from tunebench.report.render import fmt, lookup

pytestmark = pytest.mark.integration


def _bench(out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tunebench.cli", "bench", "--profile", "smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=1500, env=os.environ.copy())


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("smoke")
    proc = _bench(out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


class _Numbers(HTMLParser):
    def __init__(self):
        super().__init__()
        self.cells: list[tuple[str, int, str]] = []
        self._open: tuple[str, int] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "span" and "data-key" in attrs:
            self._open = (attrs["data-key"], int(attrs["data-digits"]))

    def handle_data(self, data):
        if self._open:
            self.cells.append((*self._open, data))
            self._open = None


def _html_numbers_match_results_json(out: Path) -> set[str]:
    """Every number in report.html equals results.json's under its key; returns the keys shown."""
    results = read_json(out / "results.json")
    parser = _Numbers()
    parser.feed((out / "report.html").read_text())
    assert len(parser.cells) > 60
    for key, digits, text in parser.cells:
        assert text == fmt(lookup(results, key), digits), key
    return {key for key, _, _ in parser.cells}


def _markdown_tables_match_results_json(out: Path) -> None:
    results = read_json(out / "results.json")
    md = (out / "report.md").read_text()
    for task in results["tasks"]:
        row = next(line for line in md.splitlines() if line.startswith(f"| {task_label(task)} |"))
        numbers = re.findall(r"-?[\d,]+\.\d+", row)
        expected = [fmt(results["data"]["blind_baseline"][task])]
        if results.get("ceiling"):
            expected += [fmt(results["ceiling"]["tasks"][task][k]) for k in ("value", "low", "high")]
        for arm in results["arms"].values():
            expected += [fmt(arm["tasks"][task][k]) for k in ("mean", "low", "high")]
        comp = results["comparison"]["tasks"][task]
        expected += [fmt(comp[k]) for k in ("diff", "low", "high")] + [fmt(comp["p_value"], 3)]
        assert numbers == expected, row
    for sentence in results["verdict"]["sentences"]:
        assert sentence in md


def test_every_number_in_html_is_the_one_in_results_json(smoke):
    results = read_json(smoke / "results.json")
    shown = _html_numbers_match_results_json(smoke)
    for arm in results["arms"]:
        for task in results["tasks"]:
            assert f"arms.{arm}.tasks.{task}.mean" in shown and f"arms.{arm}.tasks.{task}.low" in shown


def test_markdown_tables_match_results_json(smoke):
    _markdown_tables_match_results_json(smoke)


def test_verdict_follows_the_numbers(smoke):
    results = read_json(smoke / "results.json")
    comp = results["comparison"]
    blind = results["data"]["blind_baseline"]
    wins = {comp["a"]: 0, comp["b"]: 0}
    for task, test in comp["tasks"].items():
        both_see = all(results["arms"][arm]["tasks"][task]["low"] > blind[task] for arm in wins)
        if test["significant"] and both_see:  # a difference between language priors is never a win
            wins[comp["a"] if test["diff"] > 0 else comp["b"]] += 1
    expected = None if wins[comp["a"]] == wins[comp["b"]] else max(wins, key=wins.get)
    assert results["verdict"]["winner"] == expected
    assert results["config"]["profile"] == "smoke" and results["environment"]["versions"]["torch"]


def test_every_step_and_evaluation_computed_in_the_precision_the_policy_picks(smoke):
    from tunebench.core.device import resolve_precision

    results = read_json(smoke / "results.json")
    want = resolve_precision("auto").record()
    assert results["precision"] == want and results["environment"]["cpu_capability"] == want["cpu_capability"]
    for arm in results["arms"].values():
        assert {s["precision"] for s in arm["cost"]["stages"].values()} == {want["precision"]}
        if arm["qformer"]:
            assert arm["qformer"]["train"]["precision"]["precision"] == want["precision"]
    for folder in (smoke / "arms").glob("*-s0"):
        for task in results["tasks"]:
            assert read_json(folder / "eval" / task / "results.json")["config"]["precision"] == want["precision"]
    md = (smoke / "report.md").read_text()
    assert f"Computed in {want['precision']}" in md and f"capability {want['cpu_capability']}" in md


def test_arms_ran_as_planned_each_with_its_own_log(smoke):
    from tunebench.bench.parallel import worker_plan

    results = read_json(smoke / "results.json")
    processes, threads = worker_plan(results["config"]["workers"], len(results["arms"]))
    assert results["workers"] == {"processes": processes, "threads_each": threads}
    if processes > 1:  # every job wrote its own log; the Q-Former ran once, before the arm that needs it
        assert "Q-Former pretraining" in (smoke / "logs" / "qformer-minigpt4-s0.log").read_text()
        for arm in ("llava-s0", "minigpt4-s0"):
            assert "training stage1, stage2" in (smoke / "logs" / f"{arm}.log").read_text()
            scoring = [log.read_text() for log in sorted((smoke / "logs").glob(f"{arm}-eval-*.log"))]
            assert len(scoring) == processes  # the benchmarks shared out over the workers
            for task in results["tasks"]:  # each benchmark scored by exactly one of them
                assert sum(f"evaluating {task} " in text for text in scoring) == 1, task


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_report_loads_in_headless_chromium_without_console_errors(smoke):
    browser = _chromium()
    if browser is None:
        pytest.fail("chromium is not installed: `make test` installs it (Debian package chromium)")
    shot = smoke / "report.png"
    profile = smoke / "chrome-profile"
    cmd = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--window-size=1280,3000",
           f"--screenshot={shot}", (smoke / "report.html").as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert shot.is_file() and shot.stat().st_size > 10_000, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console
    dom = subprocess.run([*cmd[:-2], "--dump-dom", (smoke / "report.html").as_uri()], capture_output=True,
                         text=True, timeout=180).stdout
    assert "Verdict" in dom and "data:image/png;base64," in dom


def test_rerun_redoes_only_what_is_missing(smoke):
    eval_dir = smoke / "arms" / "minigpt4-s0" / "eval" / "pope"
    kept = (smoke / "arms" / "llava-s0" / "stage2" / "connector.safetensors").stat().st_mtime_ns
    lines = (eval_dir / "samples.jsonl").read_text().splitlines(keepends=True)
    (eval_dir / "samples.jsonl").write_text("".join(lines[: len(lines) // 2]))
    (eval_dir / "results.json").unlink()
    before = read_json(smoke / "results.json")
    start = time.perf_counter()
    proc = _bench(smoke)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "training" not in proc.stdout and "evaluating pope" in proc.stdout
    assert (smoke / "arms" / "llava-s0" / "stage2" / "connector.safetensors").stat().st_mtime_ns == kept
    after = read_json(smoke / "results.json")
    assert after["arms"]["minigpt4"]["tasks"]["pope"]["mean"] == before["arms"]["minigpt4"]["tasks"]["pope"]["mean"]
    print(f"rerun after losing half an evaluation: {time.perf_counter() - start:.1f} s")


def test_the_perception_ceiling_joins_the_report_with_its_own_numbers(smoke):
    before = read_json(smoke / "results.json")
    assert before["ceiling"] is None  # not measured yet: the report has no ceiling column
    proc = subprocess.run([sys.executable, "-m", "tunebench.cli", "ceiling", "--profile", "smoke", "--out",
                           str(smoke)], capture_output=True, text=True, timeout=900, env=os.environ.copy())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "added to the report" in proc.stdout
    measured = read_json(smoke / "ceiling" / "results.json")
    results = read_json(smoke / "results.json")
    assert results["arms"] == before["arms"]  # only the ceiling (and the verdict that reads it) changed
    assert {t: v["value"] for t, v in results["ceiling"]["tasks"].items()} == {
        t: s["value"] for t, s in measured["scores"].items()}
    assert results["ceiling"]["steps"] == measured["train"]["steps"]
    shown = _html_numbers_match_results_json(smoke)
    assert {f"ceiling.tasks.{t}.{k}" for t in results["tasks"] for k in ("value", "low", "high")} <= shown
    assert "ceiling.steps" in shown
    _markdown_tables_match_results_json(smoke)
    assert any(s.startswith("Perception ceiling") for s in results["verdict"]["sentences"])

    # A ceiling for other data (as after `tunebench ceiling --config` with another world) leaves the report.
    from tunebench.bench.commands import _add_to_report
    from tunebench.core.io import atomic_write_json

    atomic_write_json(smoke / "ceiling" / "results.json", {**measured, "data_hash": "another world"})
    _add_to_report(smoke)
    assert read_json(smoke / "results.json")["ceiling"] is None
    assert "perception ceiling" not in (smoke / "report.md").read_text()
    _html_numbers_match_results_json(smoke)
