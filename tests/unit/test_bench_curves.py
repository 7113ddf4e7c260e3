"""Learning curves: scored at the planned steps, outside the timed training, without changing what is trained."""

from __future__ import annotations

from pathlib import Path

import pytest
from safetensors.torch import load_file

from tests.helpers.tiny_world import make_world, tiny_recipe
from tunebench.bench.curves import CURVE, CurveProbe, curve_points, curve_records, curve_steps
from tunebench.components import load_vision_tower
from tunebench.core.io import read_jsonl
from tunebench.evaluation.tasks import get_task, load_task_records
from tunebench.train.checkpointing import TrainState
from tunebench.train.pipeline import load_train_data
from tunebench.train.stage import run_stage

pytestmark = pytest.mark.usefixtures("one_thread_per_module")
OPTIM = {"batch_size": 2, "epochs": 2, "warmup_ratio": 0.0, "precision": "fp32", "checkpoint_every": 0}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("curves")
    make_world(root / "world", train=6, test=4)
    return root


@pytest.fixture(autouse=True)
def cache(root, monkeypatch):
    monkeypatch.setenv("TUNEBENCH_CACHE", str(root / "cache"))


def test_curve_steps_start_at_zero_and_end_at_the_last_step():
    assert curve_steps(10, 4) == [0, 2, 5, 8, 10]
    assert curve_steps(3, 4) == [0, 1, 2, 3]  # fewer steps than points: each step once
    assert curve_steps(40, 1) == [0, 40]


def _train(root: Path, out: Path, probe: CurveProbe | None) -> dict:
    recipe = tiny_recipe(root / "parts", **{"stage2.optim": OPTIM, "stage2.train": ["connector", "llm"]})
    stage = recipe.stages[1]
    records = load_train_data(root / "world").instructions
    return run_stage(recipe, stage, records, out, load_vision_tower(recipe.model.vision), seed=1,
                     on_step=probe)


def test_the_probe_scores_the_planned_steps_and_leaves_training_unchanged(root):
    evals = {t: load_task_records(get_task(t), [root / "world"]) for t in ("vqav2", "gqa", "pope")}
    subset = curve_records(evals, 3)
    assert set(subset) == {"vqav2", "gqa"} and all(len(v) == 3 for v in subset.values())
    plain = _train(root, root / "plain", None)
    probe = CurveProbe(subset, points=2, path=root / "probed" / CURVE, batch_size=2)
    probed = _train(root, root / "probed", probe)
    assert probed["train"]["losses"] == plain["train"]["losses"]  # the probe only reads the weights
    for weights in ("connector.safetensors", "llm.safetensors"):
        a, b = load_file(str(root / "plain" / weights)), load_file(str(root / "probed" / weights))
        assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    total = probed["train"]["steps"]
    rows = read_jsonl(root / "probed" / CURVE)
    assert [r["step"] for r in rows] == curve_steps(total, 2)
    assert all(set(r["scores"]) == {"vqav2", "gqa"} and 0 <= r["scores"]["vqav2"] <= 100 for r in rows)
    assert probed["train"]["hook_s"] > 0 and plain["train"]["hook_s"] == 0  # kept out of the training time
    assert [r["train_wall_s"] for r in rows] == sorted(r["train_wall_s"] for r in rows)
    model_state = TrainState(step=total)
    probe(model_state, total, None)  # a resumed stage does not score a step again (no model needed to skip)
    assert len(read_jsonl(root / "probed" / CURVE)) == len(rows)


def test_curve_points_put_every_stage_before_on_the_compute_axis(tmp_path):
    (tmp_path / CURVE).write_text(
        '{"step": 0, "total": 4, "train_wall_s": 0.0, "scores": {"vqav2": 10.0, "gqa": 20.0}, "data": "x"}\n'
        '{"step": 4, "total": 4, "train_wall_s": 8.0, "scores": {"vqav2": 30.0, "gqa": 50.0}, "data": "x"}\n')
    summaries = {"stage1": {"train_flops": 100.0, "train": {"wall_s": 5.0}},
                 "stage2": {"train_flops": 40.0, "train": {"wall_s": 8.0}}}
    points = curve_points(tmp_path, summaries, {"train_flops": 60.0, "wall_s": 2.0}, "stage2")
    assert [(p["flops"], p["train_wall_s"], p["mean"]) for p in points] == [(160.0, 7.0, 15.0), (200.0, 15.0, 40.0)]
    assert curve_points(tmp_path, summaries, None, "stage2")[0]["flops"] == 100.0
