"""Isolated turns: each question of a packed record is scored exactly as when it is asked alone."""

from __future__ import annotations

import pytest
import torch

from tests.tiny_vlm import tiny_vlm
from tunebench.core.errors import DataError
from tunebench.data.records import Turn
from tunebench.models.batching import pad_batch
from tunebench.models.packing import PADDING, SHARED, isolated_attention_mask, question_answer_pairs
from tunebench.models.prompting import IGNORE_INDEX, image_after_question

RECORD = [Turn("human", "<image>\ncolor?"), Turn("gpt", "red"), Turn("human", "circle?"), Turn("gpt", "no"),
          Turn("human", "squares?"), Turn("gpt", "two")]  # short: the tiny tokenizer spells characters
ATOL = 1e-5


@pytest.fixture(scope="module", params=[("llava", False), ("minigpt4", False), ("llava", True), ("minigpt4", True)],
                ids=["llava", "minigpt4", "llava-question-first", "minigpt4-question-first"])
def model(request, tmp_path_factory):
    arch, question_first = request.param
    vlm = tiny_vlm(tmp_path_factory.mktemp("parts"), arch)
    vlm.cfg.question_first = question_first
    vlm.cfg.max_length = 512
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # larger weights than the init's, so that every input token changes the outputs
        for param in vlm.llm.parameters():
            if param.dim() == 2:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
    return vlm.eval()


def feature(model) -> torch.Tensor:
    return model.frozen_features(torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(3)))[0]


def answer_logprobs(model, example: dict, feat: torch.Tensor) -> torch.Tensor:
    """Log-probability of every supervised token of one example, in order."""
    batch = pad_batch([{**example, "frozen_features": feat}], model.tokenizer.pad_token_id, side="right")
    with torch.no_grad():
        logits = model.logits(batch)[0, :-1].log_softmax(-1)
    targets = batch["labels"][0, 1:]
    keep = targets != IGNORE_INDEX
    return logits[keep].gather(-1, targets[keep, None]).squeeze(-1)


def test_each_packed_question_scores_as_when_asked_alone(model):
    feat = feature(model)
    packed = model.encode(RECORD, record_id="r", isolate_turns=True)
    alone = torch.cat([answer_logprobs(model, model.encode(pair, record_id="r"), feat)
                       for pair in question_answer_pairs(RECORD, "r")])
    torch.testing.assert_close(answer_logprobs(model, packed, feat), alone, atol=ATOL, rtol=0)
    # Under the plain causal mask the later answers see the earlier turns, and score otherwise.
    causal = answer_logprobs(model, model.encode(RECORD, record_id="r"), feat)
    assert causal.shape == alone.shape
    assert not torch.allclose(causal, alone, atol=1e-3)


def test_packing_shares_the_image_prefix_once(model):
    if model.cfg.question_first:
        pytest.skip("with the question first, each question has its own image tokens")
    packed = model.encode(RECORD, record_id="r", isolate_turns=True)
    separate = [model.encode(pair, record_id="r") for pair in question_answer_pairs(RECORD, "r")]
    image_tokens = packed["input_ids"].count(model.image_token_id)
    assert image_tokens == model.num_image_tokens
    shared = packed["segment_ids"].count(SHARED)
    assert len(packed["input_ids"]) == sum(len(e["input_ids"]) for e in separate) - 2 * shared
    assert sorted(set(packed["segment_ids"])) == [SHARED, 1, 2, 3]
    # Every segment's positions continue from the shared start, as a question asked alone.
    for n in (1, 2, 3):
        positions = [p for p, s in zip(packed["position_ids"], packed["segment_ids"], strict=True) if s == n]
        assert positions[0] == shared and positions == list(range(shared, shared + len(positions)))


def test_with_the_question_first_each_segment_holds_its_question_then_the_image(model):
    if not model.cfg.question_first:
        pytest.skip("image first")
    packed = model.encode(RECORD, record_id="r", isolate_turns=True)
    ids, segments = packed["input_ids"], packed["segment_ids"]
    assert ids.count(model.image_token_id) == 3 * model.num_image_tokens
    for n, question in ((1, "color?"), (2, "circle?"), (3, "squares?")):
        mine = [t for t, s in zip(ids, segments, strict=True) if s == n]
        text = model.tokenizer.decode([t for t in mine if t != model.image_token_id])
        assert question in text.replace(" ", "")  # the tiny tokenizer spells characters
        assert mine.index(model.image_token_id) > 0  # the question's tokens come first
    assert model.image_token_id not in [t for t, s in zip(ids, segments, strict=True) if s == SHARED]


def test_a_cut_never_splits_a_questions_image_tokens(model):
    full = model.encode(RECORD, record_id="r", isolate_turns=True)
    ends = [max(i for i, s in enumerate(full["segment_ids"]) if s == n) + 1 for n in (1, 2, 3)]
    model.cfg.max_length = ends[1] + 1  # room for two segments and the first token of the third
    try:
        cut = model.encode(RECORD, record_id="r", isolate_turns=True)
    finally:
        model.cfg.max_length = 512
    if model.cfg.question_first:  # the third segment's image comes after its first token: it is left out whole
        assert cut["input_ids"] == full["input_ids"][: ends[1]]
    else:  # the image is in the shared start: cut as any sequence
        assert cut["input_ids"] == full["input_ids"][: ends[1] + 1]
    assert cut["input_ids"].count(model.image_token_id) % model.num_image_tokens == 0


def test_a_padded_batch_of_packed_records_scores_each_row_alone(model):
    feat = feature(model)
    short = [Turn("human", "<image>\nshape?"), Turn("gpt", "a"), Turn("human", "size?"), Turn("gpt", "big")]
    examples = [model.encode(turns, record_id="r", isolate_turns=True) for turns in (RECORD, short)]
    batch = pad_batch([{**e, "frozen_features": feat} for e in examples], model.tokenizer.pad_token_id, "right")
    assert (batch["segment_ids"][1] == PADDING).any()
    with torch.no_grad():
        logits = model.logits(batch)
    for row, example in enumerate(examples):
        n = len(example["input_ids"])
        alone = model.logits(pad_batch([{**example, "frozen_features": feat}], model.tokenizer.pad_token_id, "right"))
        torch.testing.assert_close(logits[row, :n], alone[0], atol=1e-4, rtol=0)
    assert torch.isfinite(logits).all()


def test_mask_blocks_other_segments_and_padding():
    segments = torch.tensor([[0, 0, 1, 1, 2, 2, PADDING]])
    allowed = isolated_attention_mask(segments, torch.tensor([[1, 1, 1, 1, 1, 1, 0]]))[0, 0]
    assert allowed[4, :2].all() and not allowed[4, 2:4].any() and allowed[4, 4]  # segment 2: start and itself
    assert not allowed[3, 4] and not allowed[1, 2]  # causal
    assert not allowed[:6, 6].any() and allowed[6, 6]  # padding: seen by none, sees only itself


@pytest.mark.parametrize("turns, problem", [
    ([Turn("human", "what?"), Turn("gpt", "a")], "placeholder"),
    ([Turn("human", "<image>\nwhat?"), Turn("gpt", "a"), Turn("human", "<image>\nagain?"), Turn("gpt", "b")],
     "placeholder"),
    ([Turn("human", "<image>\nwhat?"), Turn("human", "and?")], "alternating"),
])
def test_records_that_cannot_be_isolated_are_refused(turns, problem):
    with pytest.raises(DataError, match=problem):
        question_answer_pairs(turns, "r7")


def test_image_after_question_moves_only_the_placeholder():
    turns = [Turn("human", "<image>\nwhat is it?"), Turn("gpt", "a <image> token in an answer stays"),
             Turn("human", "and?")]
    moved = image_after_question(turns)
    assert moved[0] == Turn("human", "what is it?\n<image>")
    assert moved[1:] == turns[1:]
