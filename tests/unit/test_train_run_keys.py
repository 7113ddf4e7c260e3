"""Run folders are keyed on content, not location: a moved project reuses its runs, while an image edited in
place, a retrained starting run or other captions for the Q-Former are never mistaken for the old ones."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from tests.helpers.tiny_world import make_world, tiny_recipe
from tests.tiny_vlm import tiny_parts
from tunebench.components import load_vision_tower
from tunebench.core.errors import UserError
from tunebench.core.io import create_json, read_json
from tunebench.data.records import Record, Turn, records_hash
from tunebench.train.pipeline import TrainData, ensure_qformer, load_train_data
from tunebench.train.stage import RUN_KEY, SUMMARY, run_stage

pytestmark = pytest.mark.usefixtures("one_thread_per_module")
FAST = {"optim": {"batch_size": 4, "epochs": 1, "precision": "fp32"}}


def test_records_hash_follows_image_bytes_not_image_paths(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "img.png").write_bytes(b"pixels")

    def record(folder: str) -> Record:
        return Record("r0", str(tmp_path / folder / "img.png"), (Turn("human", "<image>\nWhat?"), Turn("gpt", "red")))

    assert records_hash([record("a")]) == records_hash([record("b")])
    before = records_hash([record("a")])
    (tmp_path / "a" / "img.png").write_bytes(b"other pixels")
    assert records_hash([record("a")]) != before


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A world and a finished two-stage LLaVA run (tiny parts) inside one project folder."""
    root = tmp_path_factory.mktemp("keys") / "project"
    tiny_parts(root.parent / "parts")
    return _train_project(root, root.parent)


def _train_project(root: Path, parts_base: Path) -> Path:
    make_world(root / "world", train=8, test=2)
    for name in ("stage1", "stage2"):
        _rerun(root, name, parts_base)
    return root


def _recipe(base: Path):
    return tiny_recipe(base / "parts", stage1=FAST, stage2=FAST)


def _stage(recipe, name: str):
    return next(s for s in recipe.stages if s.name == name)


def _rerun(root: Path, name: str, parts_base: Path, seed: int = 0) -> dict:
    """Run stage `name` of the project at `root` again, from records loaded there (parts stay where they are)."""
    recipe = _recipe(parts_base)
    data = load_train_data(root / "world")
    init = root / "runs" / "stage1" if name == "stage2" else None
    return run_stage(recipe, _stage(recipe, name), data.for_stage(_stage(recipe, name).data),
                     root / "runs" / name, load_vision_tower(recipe.model.vision), init=init, seed=seed)


def test_a_moved_project_reuses_its_finished_runs(project, tmp_path):
    moved = tmp_path / "project"
    shutil.copytree(project, moved)
    for name in ("stage1", "stage2"):
        finished = read_json(project / "runs" / name / SUMMARY)
        assert _rerun(moved, name, project.parent) == finished  # read back: same wall time, same all


def test_an_image_edited_in_place_is_not_mistaken_for_the_old_one(project, tmp_path):
    copy = tmp_path / "project"
    shutil.copytree(project, copy)
    image = Path(load_train_data(copy / "world").captions[0].image)
    image.write_bytes(image.read_bytes() + b"\0")  # same path, other bytes
    with pytest.raises(UserError, match="different recipe, data"):
        _rerun(copy, "stage1", project.parent)


def test_a_later_stage_follows_what_its_starting_run_holds_not_its_path(project, tmp_path):
    root = _train_project(tmp_path / "project", project.parent)
    stage2 = read_json(root / "runs" / "stage2" / SUMMARY)
    shutil.rmtree(root / "runs" / "stage1")
    _rerun(root, "stage1", project.parent)  # the same stage 1 again: the same weights on this CPU
    assert _rerun(root, "stage2", project.parent) == stage2  # so the stage 2 trained from it is still good
    shutil.rmtree(root / "runs" / "stage1")
    _rerun(root, "stage1", project.parent, seed=1)  # another stage 1 in the same folder
    with pytest.raises(UserError, match="different recipe, data"):
        _rerun(root, "stage2", project.parent)  # the stage 2 there was trained from the old one


def test_qformer_pretraining_refuses_a_folder_pretrained_on_other_captions(project, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEBENCH_CACHE", str(tmp_path / "cache"))
    recipe = tiny_recipe(project.parent / "parts", "minigpt4", **{"model.qformer.vocab_size": 30522,
                                                                  "qformer_optim": FAST["optim"]})
    tower = load_vision_tower(recipe.model.vision)
    captions = load_train_data(project / "world").captions
    run = ensure_qformer(recipe, TrainData(captions, []), tmp_path / "out", tower, seed=0)
    weights = (run / "qformer.safetensors").read_bytes()
    assert ensure_qformer(recipe, TrainData(captions, []), tmp_path / "out", tower, seed=0) == run
    assert (run / "qformer.safetensors").read_bytes() == weights  # reused, not pretrained again
    other = [replace(captions[0], turns=(captions[0].turns[0], Turn("gpt", "a different caption"))), *captions[1:]]
    with pytest.raises(UserError, match="different recipe, data"):
        ensure_qformer(recipe, TrainData(other, []), tmp_path / "out", tower, seed=0)


def test_a_run_folder_of_another_key_format_is_refused_in_one_line(project, tmp_path):
    copy = tmp_path / "project"
    shutil.copytree(project, copy)
    key = copy / "runs" / "stage1" / RUN_KEY
    found = read_json(key)
    for other in (None, found["format"] + 1):
        key.write_text(json.dumps({**found, "format": other}))
        with pytest.raises(UserError, match=f"key has format {other}, this tunebench writes {found['format']}"):
            _rerun(copy, "stage1", project.parent)


def test_of_processes_racing_to_claim_a_folder_exactly_one_writes_the_key(tmp_path):
    path = tmp_path / "run" / RUN_KEY
    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(lambda i: create_json(path, {"key": str(i)}), range(8)))
    assert won.count(True) == 1
    assert read_json(path) == {"key": str(won.index(True))}  # the winner's key, whole
    assert not create_json(path, {"key": "late"}) and read_json(path)["key"] == str(won.index(True))
    assert [p.name for p in path.parent.iterdir()] == [RUN_KEY]  # no temporary file left behind
