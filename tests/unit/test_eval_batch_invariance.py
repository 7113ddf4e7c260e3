"""Predictions never depend on the batch size: batch 1 and 16 give identical answers, both designs, both scorings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.tiny_world import make_world, tiny_eval_vlm
from tunebench.evaluation.engine import predict
from tunebench.evaluation.tasks import get_task, load_task_records

# Seeds whose random models answer the POPE questions both ways under likelihood scoring, so the test
# would see a flipped answer (the guard below fails if a change of the tiny parts makes them one-sided).
SEEDS = {"llava": 1, "minigpt4": 0}


pytestmark = pytest.mark.usefixtures("one_thread_per_module")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return make_world(tmp_path_factory.mktemp("invariance") / "world", train=2, test=6)


@pytest.fixture(scope="module", params=["llava", "minigpt4"])
def model(request, world):
    return tiny_eval_vlm(world.parent / "parts", request.param, seed=SEEDS[request.param])


@pytest.fixture(autouse=True)
def cache(world, monkeypatch):
    monkeypatch.setenv("TUNEBENCH_CACHE", str(world.parent / "cache"))  # the feature cache of this test


def answers(model, task, records, batch_size: int, scoring: str) -> dict[str, str]:
    return {p.record.id: p.raw for p in predict(model, task, records, batch_size=batch_size, scoring=scoring)}


@pytest.mark.parametrize(("task_name", "scoring"), [("vqav2", "generate"), ("pope", "generate"),
                                                    ("pope", "likelihood")])
def test_batch_1_and_16_give_identical_predictions(model, world, task_name, scoring):
    task = get_task(task_name)
    records = load_task_records(task, [world])
    assert len(records) >= 20
    one = answers(model, task, records, 1, scoring)
    sixteen = answers(model, task, records, 16, scoring)
    assert set(one) == {r.id for r in records}
    assert sixteen == one
    assert len(set(one.values())) > 1  # the model's answers depend on the input: a batching error would show
