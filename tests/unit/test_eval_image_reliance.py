"""The image-reliance probe: zero for a model that cannot see the image, non-zero for one that can."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers.tiny_world import make_world, tiny_eval_vlm
from tunebench.data.records import Record, Turn
from tunebench.evaluation.image_reliance import _other_image, balanced_per_image, image_reliance
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


def test_probe_subset_weighs_every_image_the_same_with_as_many_yes_as_no():
    # Splits reuse images (as POPE's do): the second split asks about images 0-9 again. Image i of the first
    # split has 3 "yes" and 1 + i % 3 "no" questions; image 7 has no "no" at all.
    def answers(i: int) -> list[str]:
        return ["yes"] * 3 + ["no"] * (0 if i == 7 else 1 + i % 3)

    records = [Record(f"random-{i}-{q}", f"{i}.png", (Turn("human", "?"),), (a,), "pope", {"split": "random"})
               for i in range(20) for q, a in enumerate(answers(i))]
    records += [Record(f"popular-{i}-{q}", f"{i}.png", (Turn("human", "?"),), ("Yes" if q % 2 else "No",), "pope",
                       {"split": "popular"}) for i in range(10) for q in range(6)]
    kept = balanced_per_image(records)
    assert {r.meta["split"] for r in kept} == {"random"}  # each image from its first split only
    per_image: dict = {}
    for r in kept:
        per_image.setdefault(r.image, []).append(r.answers[0])
    # 2 yes + 2 no from the 12 images that have them (48 questions) beats 1 + 1 from 19 (38) or 3 + 3 from 6 (36).
    assert "7.png" not in per_image and len(per_image) == 12
    assert all(sorted(a) == ["no", "no", "yes", "yes"] for a in per_image.values())
    open_set = [*records, Record("q-open", "0.png", (Turn("human", "?"),), ("2",), "vqav2", {"split": "random"})]
    assert balanced_per_image(open_set) == open_set  # not a yes/no set: nothing to balance
