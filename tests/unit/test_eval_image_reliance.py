"""The image-reliance probe: zero for a model that cannot see the image, non-zero for one that can."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers.tiny_world import make_world, tiny_eval_vlm
from tunebench.evaluation.image_reliance import _other_image, image_reliance
from tunebench.evaluation.tasks import get_task, load_task_records

pytestmark = pytest.mark.usefixtures("one_thread_per_module")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return make_world(tmp_path_factory.mktemp("reliance") / "world", train=2, test=6)


@pytest.fixture(autouse=True)
def cache(world, monkeypatch):
    monkeypatch.setenv("TUNEBENCH_CACHE", str(world.parent / "cache"))


def test_every_image_is_swapped_for_a_different_one():
    swap = _other_image(["b.png", "a.png", "c.png", "a.png"])
    assert swap == {"a.png": "b.png", "b.png": "c.png", "c.png": "a.png"}


@pytest.mark.parametrize("arch", ["llava", "minigpt4"])
def test_gap_is_zero_when_the_image_is_blanked_and_not_otherwise(world, arch):
    model = tiny_eval_vlm(world.parent / "parts", arch)
    task = get_task("vqav2")
    records = load_task_records(task, [world])
    seeing = image_reliance(model, task, records, batch_size=4)
    assert seeing["questions"] == len(records) and seeing["answer_tokens"] > 0
    assert abs(seeing["gap"]) > 1e-6
    last = model.connector.linear_2 if arch == "llava" else model.connector.proj
    with torch.no_grad():  # the connector now emits the same embedding for every image: nothing to see
        last.weight.zero_()
    blind = image_reliance(model, task, records, batch_size=4)
    assert blind["gap"] == pytest.approx(0.0, abs=1e-9)
    assert blind["loss_right_image"] == pytest.approx(blind["loss_other_image"], abs=1e-9)
