"""Every command fails the way the data validator does: bad paths, bad recipe values, a folder in use, the wrong
results file. Each case runs through the real entry point (`tunebench.cli.main`) and must end in one line on
stderr, the documented exit code (1 bad data or environment, 2 bad usage or config), no traceback, and nothing
written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tunebench.cli import main
from tunebench.core.lock import LOCK_FILE


@pytest.fixture
def place(tmp_path: Path) -> Path:
    """A working folder with a plain file, an empty folder and the wrong kinds of JSON."""
    (tmp_path / "afile").write_text("x")
    (tmp_path / "empty").mkdir()
    (tmp_path / "list.json").write_text("[]")
    (tmp_path / "eval-results.json").write_text(json.dumps({"results": {"pope": {}}, "headline": {}}))
    (tmp_path / "bench-results.json").write_text(json.dumps({"arms": {}, "verdict": {}}))
    (tmp_path / "typo.yaml").write_text("common_overrides: {stage2: {optim: {batch_sise: 4}}}\n")
    (tmp_path / "bad-arm.yaml").write_text(
        "arms: [{name: a, recipe: llava-1.5, label: A, design: llava, overrides: {stage1: {optim: {lr: -1}}}}]\n")
    return tmp_path


CASES = [
    # (argv with {p} for the working folder, exit code, what the line says)
    ("train --shapes {p}/empty --out {p}/afile", 2, "--out {p}/afile: names a file"),
    ("train --shapes {p}/empty --out {p}/afile/run", 2, "{p}/afile on its way is a file"),
    ("train --shapes {p}/nowhere --out {p}/run", 1, "--shapes {p}/nowhere: folder not found"),
    ("train --shapes {p}/empty --out {p}/run", 1, "not a folder made by `tunebench data shapes`"),
    ("train --captions {p}/empty --out {p}/run", 1, "--captions {p}/empty: is a folder; give a file"),
    ("train --shapes {p}/empty --out {p}/run --set stage1.optim.batch_size=-4", 2,
     "stage1.optim.batch_size: cannot read '-4': Input should be greater than or equal to 1"),
    ("train --shapes {p}/empty --out {p}/run --set stage2.optim.batch_size=-4", 2, "stage2.optim.batch_size"),
    ("train --shapes {p}/empty --out {p}/run --set stage2.optim.lr=-1e-4", 2, "stage2.optim.lr"),
    ("train --shapes {p}/empty --out {p}/run --set stage1.optim.epochs=0", 2, "stage1.optim.epochs"),
    ("train --shapes {p}/empty --out {p}/run --set stage1.optim.max_steps=0", 2, "stage1.optim.max_steps"),
    ("train --shapes {p}/empty --out {p}/run --stage stage3", 2, "--stage: unknown stage 'stage3'"),
    ("train --instructions {p}/list.json --out {p}/run", 2, "stage1 trains on captions and none were given: "
                                                            "pass --captions (or --shapes)"),
    ("eval {p}/afile --task pope --data {p}/empty --out {p}/out", 1, "RUN {p}/afile: is a file; give a folder"),
    ("eval {p}/empty --task pope --data {p}/nowhere --out {p}/out", 1, "--data {p}/nowhere: file not found"),
    ("eval {p}/empty --task pope --data {p}/empty --out {p}/afile", 2, "--out {p}/afile: names a file"),
    ("eval {p}/empty --task nope --data {p}/empty --out {p}/out", 2, "unknown task 'nope'"),
    ("bench --out {p}/afile", 2, "--out {p}/afile: names a file"),
    ("bench --profile smoke --config {p}/typo.yaml --out {p}/bench", 2,
     "{p}/typo.yaml: common_overrides.stages.stage2.optim.batch_sise: unknown config field"),
    ("bench --profile smoke --config {p}/bad-arm.yaml --out {p}/bench", 2,
     "arm a: overrides.stages.stage1.optim.lr: cannot read -1"),
    ("bench --profile huge --out {p}/bench", 2, "unknown profile 'huge'"),
    ("strategies --out {p}/afile", 2, "--out {p}/afile: names a file"),
    ("strategies --out {p}/s --corpus {p}/nowhere.jsonl", 1, "--corpus {p}/nowhere.jsonl: file not found"),
    ("advise {p}/list.json", 1, "not results of `tunebench strategies` (a JSON list, not an object)"),
    ("advise {p}/eval-results.json", 1, "these are results of `tunebench eval`"),
    ("advise {p}/bench-results.json", 1, "these are results of `tunebench bench`"),
    ("advise {p}/empty", 1, "RESULTS {p}/empty: is a folder; give a file"),
    ("data validate {p}/empty --image-folder {p}/empty", 1, "FILE {p}/empty: is a folder; give a file"),
    ("data validate {p}/list.json --image-folder {p}/nowhere", 1, "--image-folder {p}/nowhere: folder not found"),
    ("data convert {p}/list.json --from coco --out {p}/o.json", 2, "--from: unknown format 'coco'"),
    ("data convert {p}/list.json --from llava --out {p}/empty", 2, "--out {p}/empty: names a folder"),
    ("export {p}/nowhere --out {p}/x", 1, "RUN {p}/nowhere: folder not found"),
    ("model-info --arch gpt", 2, "--arch: unknown design 'gpt'"),
]


@pytest.mark.parametrize(("argv", "code", "says"), CASES, ids=[c[0].split(" --out")[0] for c in CASES])
def test_each_bad_input_is_one_line_with_its_exit_code_and_writes_nothing(argv, code, says, place, capsys):
    before = sorted(place.rglob("*"))
    with pytest.raises(SystemExit) as exit_info:
        main(argv.format(p=place).split())
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert exit_info.value.code == code, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    assert says.format(p=place) in lines[0]
    assert sorted(place.rglob("*")) == before  # no folder made, no data generated, no partial output


def test_an_unwritable_out_is_one_line_before_anything_loads(place, capsys, monkeypatch):
    import os

    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if Path(path) == place / "ro" else
                        real_access(path, mode))
    (place / "ro").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--out", str(place / "ro" / "bench")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1
    assert err.strip() == f"error: --out {place}/ro/bench: cannot write in {place}/ro (permission denied)"


HOLD = """
import sys, time
from tunebench.core.lock import claim_folder
with claim_folder(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_folder_in_use_is_refused_naming_its_holder(place, capsys):
    out = place / "bench"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(SystemExit) as exit_info:
            main(["bench", "--profile", "smoke", "--out", str(out)])
        err = capsys.readouterr().err
        assert exit_info.value.code == 1
        assert err.strip().startswith(f"error: {out}: in use by process {holder.pid} (")
        assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]  # nothing of this bench was written
    finally:
        holder.kill()
        holder.wait()
