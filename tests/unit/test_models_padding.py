"""Padding never changes a sample's result: alone or inside a mixed-length batch, for both designs."""

from __future__ import annotations

import pytest
import torch

from tests.tiny_vlm import tiny_vlm
from tunebench.data.records import Turn
from tunebench.models.batching import pad_batch
from tunebench.models.prompting import IGNORE_INDEX

CONVERSATIONS = [
    [Turn("human", "<image>\nwhat?"), Turn("gpt", "yes")],
    [Turn("human", "<image>\nis there a long question here about the shapes?"), Turn("gpt", "no, there is not")],
    [Turn("human", "<image>\nhi"), Turn("gpt", "a"), Turn("human", "and more?"), Turn("gpt", "yes it is")],
]
PROMPTS = [[Turn("human", "<image>\nwhat?")], [Turn("human", "<image>\ndescribe all of the scene, please")],
           [Turn("human", "<image>\nsay")]]
ATOL = 1e-5


@pytest.fixture(scope="module", params=["llava", "minigpt4"])
def model(request, tmp_path_factory):
    vlm = tiny_vlm(tmp_path_factory.mktemp("parts"), request.param)
    # A freshly initialised tiny LLM (std 0.02) predicts nearly the same token everywhere; larger weights make
    # its outputs depend on every input token, so a padding mistake shows up in generation too.
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in vlm.llm.parameters():
            if param.dim() == 2:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
    return vlm.eval()


def pixels(n: int) -> torch.Tensor:
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(7))


def examples(model, conversations, for_generation: bool) -> list[dict]:
    feats = model.frozen_features(pixels(len(conversations)))  # images run as one batch, as evaluation does
    out = []
    for i, turns in enumerate(conversations):
        enc = model.encode(turns, record_id=f"r{i}", for_generation=for_generation)
        if for_generation:
            enc.pop("labels")
        out.append({**enc, "frozen_features": feats[i]})
    return out


def alone(model, example: dict, side: str) -> dict:
    return pad_batch([example], model.tokenizer.pad_token_id, side=side)


def real_positions(batch: dict, row: int) -> torch.Tensor:
    return batch["attention_mask"][row].bool()


def test_batches_really_are_padded(model):
    lengths = {len(e["input_ids"]) for e in examples(model, CONVERSATIONS, False)}
    prompt_lengths = {len(e["input_ids"]) for e in examples(model, PROMPTS, True)}
    assert len(lengths) == len(CONVERSATIONS) and len(prompt_lengths) == len(PROMPTS)


@pytest.mark.parametrize("side", ["right", "left"])
def test_training_logits_and_loss_do_not_depend_on_padding(model, side):
    exs = examples(model, CONVERSATIONS, for_generation=False)
    batch = pad_batch(exs, model.tokenizer.pad_token_id, side=side)
    with torch.no_grad():
        batched = model.logits(batch)
        losses = []
        for i, ex in enumerate(exs):
            single = alone(model, ex, side)
            logits = model.logits(single)[0]
            labels = torch.tensor(ex["labels"])
            answer = labels[1:] != IGNORE_INDEX  # positions that predict a supervised token
            row = batched[i][real_positions(batch, i)]
            assert answer.any()
            torch.testing.assert_close(row[:-1][answer], logits[:-1][answer], atol=ATOL, rtol=0)
            torch.testing.assert_close(row, logits, atol=ATOL, rtol=0)
            out = model.loss(single)
            losses.append((out.loss, out.n_tokens))
        total = model.loss(batch)
    weighted = sum(loss * n for loss, n in losses) / sum(n for _, n in losses)
    assert total.n_tokens == sum(n for _, n in losses)
    torch.testing.assert_close(total.loss, weighted, atol=ATOL, rtol=0)


def test_prompt_logits_do_not_depend_on_left_padding(model):
    exs = examples(model, PROMPTS, for_generation=True)
    batch = pad_batch(exs, model.tokenizer.pad_token_id, side="left")
    with torch.no_grad():
        batched = model.logits(batch)
        for i, ex in enumerate(exs):
            single = model.logits(alone(model, ex, "left"))[0]
            torch.testing.assert_close(batched[i][real_positions(batch, i)], single, atol=ATOL, rtol=0)


def test_generate_is_the_same_alone_and_batched(model):
    exs = examples(model, PROMPTS, for_generation=True)
    batched = model.generate(pad_batch(exs, model.tokenizer.pad_token_id, side="left"), max_new_tokens=6)
    singles = [model.generate(alone(model, ex, "left"), max_new_tokens=6)[0] for ex in exs]
    assert batched == singles
    assert len({tuple(s) for s in singles}) == len(singles), "outputs must depend on the prompt to test anything"


@pytest.mark.parametrize("words", [("y", "n"), ("yes", "no", "no way")])
def test_score_candidates_is_the_same_alone_and_batched(model, words):
    candidates = [model.tokenizer(w, add_special_tokens=False)["input_ids"] for w in words]
    assert all(len(c) == len(w) for c, w in zip(candidates, words, strict=True))  # char-level tiny tokenizer
    exs = examples(model, PROMPTS, for_generation=True)
    batched = model.score_candidates(pad_batch(exs, model.tokenizer.pad_token_id, side="left"), candidates)
    assert batched.shape == (len(PROMPTS), len(candidates))
    for i, ex in enumerate(exs):
        single = model.score_candidates(alone(model, ex, "left"), candidates)[0]
        torch.testing.assert_close(batched[i], single, atol=ATOL, rtol=0)


def test_multi_token_scores_are_sums_of_next_token_logprobs(model):
    """The batched candidate scoring equals scoring by hand, token after token, on the unpadded prompt."""
    ex = examples(model, PROMPTS[:1], for_generation=True)[0]
    cand = model.tokenizer("no way", add_special_tokens=False)["input_ids"]
    score = model.score_candidates(alone(model, ex, "left"), [cand, cand[:1]])[0, 0]
    full = {**ex, "input_ids": ex["input_ids"] + cand}
    with torch.no_grad():
        logprobs = model.logits(alone(model, full, "left"))[0].log_softmax(-1)
    start = len(ex["input_ids"]) - 1
    expected = sum(logprobs[start + k, tok] for k, tok in enumerate(cand))
    torch.testing.assert_close(score, expected, atol=ATOL, rtol=0)
