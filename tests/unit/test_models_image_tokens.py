"""Image tokens and image features always line up, or a DataError names the sample (never a silent shift)."""

from __future__ import annotations

import pytest
import torch

from tests.tiny_vlm import tiny_vlm
from tunebench.core.errors import DataError
from tunebench.data.records import Turn
from tunebench.models.batching import pad_batch
from tunebench.models.prompting import IGNORE_INDEX


@pytest.fixture(scope="module", params=["llava", "minigpt4", "llava-pixel-shuffle"])
def model(request, tmp_path_factory):
    if request.param == "llava-pixel-shuffle":  # 4x4 patch grid -> 2x2 image tokens
        shuffled = tiny_vlm(tmp_path_factory.mktemp("parts"), "llava", pixel_shuffle=2).eval()
        assert shuffled.num_image_tokens == shuffled.tower.num_tokens // 4
        return shuffled
    return tiny_vlm(tmp_path_factory.mktemp("parts"), request.param).eval()


def feats(model, n: int) -> torch.Tensor:
    return model.frozen_features(torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(1)))


def batch_of(model, id_lists: list[list[int]], names: list[str], with_images: bool = True) -> dict:
    batch = pad_batch([{"input_ids": ids} for ids in id_lists], model.tokenizer.pad_token_id)
    batch["ids"] = names
    if with_images:
        batch["frozen_features"] = feats(model, len(id_lists))
    return batch


def prompt_ids(model, text: str = "<image>\nwhat is it?") -> list[int]:
    return model.encode([Turn("human", text)], for_generation=True)["input_ids"]


def test_prompt_holds_exactly_the_image_token_count(model):
    ids = prompt_ids(model)
    assert ids.count(model.image_token_id) == model.num_image_tokens
    first = ids.index(model.image_token_id)
    assert ids[first : first + model.num_image_tokens] == [model.image_token_id] * model.num_image_tokens


def test_truncated_image_tokens_name_the_sample(model):
    good = prompt_ids(model)
    cut = list(good)
    for _ in range(2):
        cut.remove(model.image_token_id)
    batch = batch_of(model, [good, cut], ["rec-good", "rec-cut"])
    for call in (model.logits, model.generate, lambda b: model.score_candidates(b, [[5], [6]])):
        with pytest.raises(DataError, match="rec-cut") as info:
            call(batch)
        assert f"{model.num_image_tokens - 2} image tokens" in str(info.value)


def test_second_placeholder_is_refused_at_encode(model):
    with pytest.raises(DataError, match="record two-images"):
        model.encode([Turn("human", "<image>\nthis <image> again"), Turn("gpt", "yes")], record_id="two-images")
    with pytest.raises(DataError, match="record two-images"):
        model.encode([Turn("human", "<image>\nA"), Turn("gpt", "B"), Turn("human", "<image> C")],
                     record_id="two-images", for_generation=True)


def test_doubled_image_tokens_in_a_batch_name_the_sample(model):
    good = prompt_ids(model)
    doubled = good + [model.image_token_id] * model.num_image_tokens
    with pytest.raises(DataError, match="rec-2"):
        model.logits(batch_of(model, [good, doubled], ["rec-1", "rec-2"]))


def test_image_tokens_without_an_image_are_refused(model):
    with pytest.raises(DataError, match="rec-noimg"):
        model.logits(batch_of(model, [prompt_ids(model)], ["rec-noimg"], with_images=False))


def test_unnamed_rows_are_reported_by_position(model):
    batch = batch_of(model, [prompt_ids(model), prompt_ids(model)[:-1]], ["a", "b"])
    batch["input_ids"][1, batch["input_ids"][1] == model.image_token_id] = 5
    del batch["ids"]
    with pytest.raises(DataError, match="batch row 1"):
        model.logits(batch)


def test_text_only_samples_run_without_an_image(model):
    ids = prompt_ids(model, "no picture here")
    assert model.image_token_id not in ids
    logits = model.logits(batch_of(model, [ids], ["text"], with_images=False))
    assert logits.shape[:2] == (1, len(ids)) and torch.isfinite(logits).all()


def long_conversation() -> list[Turn]:
    return [Turn("human", "<image>\nq"), Turn("gpt", "a" * 40)]


def test_truncation_that_cuts_image_tokens_is_refused(model, monkeypatch):
    late_image = [Turn("human", "hello"), Turn("gpt", "x" * 30), Turn("human", "<image>\nq"), Turn("gpt", "y")]
    full = model.encode(late_image)["input_ids"]
    first = full.index(model.image_token_id)
    for limit in (first, first + 1, first + model.num_image_tokens - 1):  # before and inside the image block
        monkeypatch.setattr(model.cfg, "max_length", limit)
        with pytest.raises(DataError, match="record late") as info:
            model.encode(late_image, record_id="late")
        assert "image tokens" in str(info.value)


def test_truncation_of_text_after_the_image_keeps_every_image_token(model, monkeypatch):
    full = model.encode(long_conversation())
    limit = len(full["input_ids"]) - 10
    monkeypatch.setattr(model.cfg, "max_length", limit)
    cut = model.encode(long_conversation())
    assert cut["input_ids"] == full["input_ids"][:limit] and cut["labels"] == full["labels"][:limit]
    assert cut["input_ids"].count(model.image_token_id) == model.num_image_tokens
    assert any(label != IGNORE_INDEX for label in cut["labels"])


def test_prompts_for_generation_are_never_truncated(model, monkeypatch):
    ids = prompt_ids(model)
    monkeypatch.setattr(model.cfg, "max_length", len(ids) - 1)
    with pytest.raises(DataError, match="record p1"):
        model.encode([Turn("human", "<image>\nwhat is it?")], record_id="p1", for_generation=True)


def test_pixel_shuffle_merges_each_block_of_cells_into_one_token_and_loses_nothing():
    import torch

    from tunebench.models.connectors import pixel_shuffle, shuffled_tokens

    grid = torch.arange(2 * 49 * 3, dtype=torch.float32).reshape(2, 49, 3)
    out = pixel_shuffle(grid, 2)
    assert out.shape == (2, 16, 12) and shuffled_tokens(49, 2) == 16 and shuffled_tokens(49, 1) == 49
    cells = grid.reshape(2, 7, 7, 3)
    # token (row 1, col 2) holds cells (2..3, 4..5) in row-major order, features side by side
    expected = torch.cat([cells[:, 2, 4], cells[:, 2, 5], cells[:, 3, 4], cells[:, 3, 5]], dim=-1)
    assert torch.equal(out[:, 1 * 4 + 2], expected)
    assert torch.equal(out[:, 15, 3:], torch.zeros(2, 9))  # the padded column and row of the odd grid
    assert torch.equal(out[:, 15, :3], cells[:, 6, 6])
    assert sorted(out[out != 0].tolist()) == sorted(grid[grid != 0].tolist())  # every feature kept once
    assert torch.equal(pixel_shuffle(grid, 1), grid)
