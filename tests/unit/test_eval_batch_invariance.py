"""Predictions never depend on the batch size: batch 1 and 16 give identical answers, both designs, both scorings."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers.tiny_world import make_world, tiny_eval_vlm
from tunebench.evaluation.engine import Prompt, predict, prompt_batches
from tunebench.evaluation.tasks import get_task, load_task_records

# Seeds whose random models answer the POPE questions both ways under likelihood scoring, so the test
# would see a flipped answer (the guard below fails if a change of the tiny parts makes them one-sided).
SEEDS = {"llava": 3, "minigpt4": 3}


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


def whole_prompt_answers(model, task, records, scoring: str) -> dict[str, str]:
    """Each full prompt alone, image tokens and all, with no shared prefix (the path the engine replaces)."""
    from tunebench.evaluation.engine import answer_ids, prompt_turns
    from tunebench.models.batching import pad_batch
    from tunebench.models.features import frozen_features_for

    feats = frozen_features_for(model, [r.image for r in records])
    out = {}
    for r, feat in zip(records, feats, strict=True):
        ex = model.encode(prompt_turns(task, r), record_id=r.id, for_generation=True)
        batch = pad_batch([{**ex, "frozen_features": feat}], model.tokenizer.pad_token_id)
        if scoring == "likelihood":
            scores = model.score_candidates(batch, [answer_ids(model, c) for c in task.candidates])
            out[r.id] = task.candidates[int(scores.argmax())]
        else:
            out[r.id] = model.decode_answer(model.generate(batch, task.max_new_tokens)[0])
    return out


@pytest.mark.parametrize(("task_name", "scoring"), [("vqav2", "generate"), ("pope", "likelihood")])
def test_shared_image_prefixes_give_the_answers_of_whole_prompts(model, world, task_name, scoring, monkeypatch):
    task = get_task(task_name)
    records = load_task_records(task, [world])
    images = {r.image for r in records}
    assert len(images) < len(records)  # several questions per image, so prefixes are shared
    computed = []
    original = type(model).prefix_kv

    def counted(self, ids, feats):
        computed.extend(ids)
        return original(self, ids, feats)

    monkeypatch.setattr(type(model), "prefix_kv", counted)
    assert answers(model, task, records, 16, scoring) == whole_prompt_answers(model, task, records, scoring)
    assert len(computed) == len(images)  # each image's prefix prefilled once


def test_prefix_helpers():
    import torch

    from tunebench.models.prefix import PrefixKV, prefix_length

    assert prefix_length([5, 9, 9, 9, 3, 4], image_token_id=9) == 4
    assert prefix_length([5, 3, 4], image_token_id=9) == 0
    one = PrefixKV(((torch.zeros(1, 2, 3, 4), torch.ones(1, 2, 3, 4)),))
    two = PrefixKV.stack([one, one])
    assert two.length == 3 and two.layers[0][0].shape == (2, 2, 3, 4)
    assert two.full_mask(torch.tensor([[0, 1], [1, 1]])).tolist() == [[1, 1, 1, 0, 1], [1, 1, 1, 1, 1]]
    with pytest.raises(ValueError, match="same length"):
        PrefixKV.stack([one, PrefixKV(((torch.zeros(1, 2, 5, 4), torch.zeros(1, 2, 5, 4)),))])


def test_prompts_with_and_without_an_image_never_share_a_batch():
    # With a template whose prompts end on their image (LLaVA's plain), image prompts share no prefix either,
    # and a batch mixing them with text-only prompts could not stack its image inputs.
    prompts = [Prompt(i, [], [1, 2, 3], f"img{i}" if i % 2 else None, torch.zeros(2) if i % 2 else None)
               for i in range(6)]
    batches = list(prompt_batches(prompts, 16))
    assert sorted(len(b) for b in batches) == [3, 3]
    assert all(len({p.image is None for p in b}) == 1 for b in batches)
