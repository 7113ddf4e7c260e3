"""The loss average: over tokens, over answers (each answer weighs the same), or InternVL's square-root compromise."""

from __future__ import annotations

import pytest
import torch

from tests.tiny_vlm import tiny_vlm
from tunebench.data.records import Turn
from tunebench.models.batching import pad_batch
from tunebench.models.packing import question_answer_pairs
from tunebench.models.prompting import IGNORE_INDEX
from tunebench.train.loop import loss_weight, supervised_units
from tunebench.train.loss_average import answer_lengths, answer_weights, with_answer_weights

X = IGNORE_INDEX
# answers of unequal length: the tiny tokenizer spells characters
RECORD = [Turn("human", "<image>\ncolor?"), Turn("gpt", "a red one"), Turn("human", "circle?"), Turn("gpt", "no"),
          Turn("human", "describe it"), Turn("gpt", "a large red circle left of a small square")]


def test_answer_lengths_count_each_run_of_supervised_positions_within_its_row():
    labels = torch.tensor([[X, 5, 6, X, 7, X, 8],
                           [9, 1, 2, 3, X, X, X]])  # row 0 ends inside an answer, row 1 starts inside one
    assert answer_lengths(labels).tolist() == [[0, 2, 2, 0, 1, 0, 1], [4, 4, 4, 4, 0, 0, 0]]
    answer = answer_weights(labels, "answer")
    assert answer[0, 1:3].tolist() == [0.5, 0.5] and answer[1, :4].tolist() == [0.25] * 4
    assert float(answer.sum()) == pytest.approx(4.0)  # four answers, each weighing one in all
    assert answer_weights(labels, "square")[1, 0].item() == pytest.approx(0.5)
    assert torch.equal(answer_weights(labels, "token"), (labels != X).float())
    assert (answer_weights(labels, "square")[labels == X] == 0).all()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    vlm = tiny_vlm(tmp_path_factory.mktemp("parts"), "llava")
    vlm.cfg.max_length = 512
    return vlm.eval()


def answer_losses(model, example: dict, feat: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of every supervised token of one example, in order."""
    batch = pad_batch([{**example, "frozen_features": feat}], model.tokenizer.pad_token_id, side="right")
    with torch.no_grad():
        logits = model.logits(batch)[0, :-1]
    targets = batch["labels"][0, 1:]
    keep = targets != IGNORE_INDEX
    return torch.nn.functional.cross_entropy(logits[keep], targets[keep], reduction="none")


@pytest.mark.parametrize(("average", "power"), [("token", 0.0), ("square", 0.5), ("answer", 1.0)])
def test_a_packed_record_weighs_each_answer_by_its_length_to_the_minus_power(model, average, power):
    feat = model.frozen_features(torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(3)))[0]
    alone = [answer_losses(model, model.encode(pair, record_id="r"), feat)
             for pair in question_answer_pairs(RECORD, "r")]
    assert len({len(a) for a in alone}) == 3  # three answers of three lengths
    weights = [torch.full_like(a, len(a) ** -power) for a in alone]
    expected = sum(float((a * w).sum()) for a, w in zip(alone, weights, strict=True)) / float(sum(
        w.sum() for w in weights))
    packed = model.encode(RECORD, record_id="r", isolate_turns=True)
    batch = with_answer_weights(pad_batch([{**packed, "frozen_features": feat}], model.tokenizer.pad_token_id,
                                          side="right"), average)
    with torch.no_grad():
        out = model.loss(batch)
    assert float(out.loss) == pytest.approx(expected, abs=1e-5)
    assert out.n_tokens == supervised_units(batch) == sum(len(a) for a in alone)
    assert out.weight == pytest.approx(loss_weight(batch))
    assert ("label_weights" in batch) == (average != "token")
