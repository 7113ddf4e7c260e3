"""Token-weighted accumulation: a step's loss is the mean over all its supervised tokens (or answers), however it
is split."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from tests.helpers.tiny_world import make_world, tiny_recipe
from tunebench.components import load_vision_tower
from tunebench.models.batching import pad_batch
from tunebench.train.loop import OptimConfig, train
from tunebench.train.loss_average import with_answer_weights
from tunebench.train.pipeline import load_train_data
from tunebench.train.sampling import step_plan
from tunebench.train.stage import build_examples, prepare_model, select_trainable

STEPS = 4


pytestmark = pytest.mark.usefixtures("one_thread_per_module")


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("accumulation")
    make_world(root / "world", train=12)
    return root


@pytest.fixture(autouse=True)
def cache(root, monkeypatch):
    monkeypatch.setenv("TUNEBENCH_CACHE", str(root / "cache"))


def fresh(root: Path):
    recipe = tiny_recipe(root / "parts")
    stage = recipe.stages[0]  # captions: lengths differ, so micro-batches hold unequal token counts
    model = prepare_model(recipe, stage, load_vision_tower(recipe.model.vision), None, None, seed=0)
    groups = select_trainable(model, stage)
    examples = build_examples(model, load_train_data(root / "world").captions)
    return model, groups, examples


def optim(batch_size: int, grad_accum: int) -> OptimConfig:
    return OptimConfig(lr=1e-2, warmup_ratio=0.0, batch_size=batch_size, grad_accum=grad_accum, precision="fp32",
                       group_by_length=False, max_grad_norm=0.0, epochs=2, max_steps=STEPS, seed=4)


def run(root: Path, batch_size: int, grad_accum: int, average: str = "token"
        ) -> tuple[list[float], dict[str, torch.Tensor]]:
    model, groups, examples = fresh(root)
    pad = model.tokenizer.pad_token_id
    result = train(model, groups, examples, lambda items: with_answer_weights(pad_batch(items, pad, "right"), average),
                   lambda m, b: m(b), optim(batch_size, grad_accum))
    assert result.steps == STEPS
    return result.losses, {n: p.detach().clone() for n, p in model.connector.named_parameters()}


@pytest.mark.parametrize("average", ["token", "answer"])
def test_accumulating_two_micro_batches_equals_one_batch_of_twice_the_size(root, average):
    losses_big, weights_big = run(root, batch_size=4, grad_accum=1, average=average)
    losses_acc, weights_acc = run(root, batch_size=2, grad_accum=2, average=average)
    tolerance = 1e-6 if average == "token" else 1e-5  # fractional weights round in float32
    assert losses_acc == pytest.approx(losses_big, abs=tolerance, rel=0)
    initial = {n: p.detach() for n, p in fresh(root)[0].connector.named_parameters()}
    for name, tensor in weights_big.items():
        assert not torch.equal(tensor, initial[name])  # it trained
        torch.testing.assert_close(weights_acc[name], tensor, atol=1e-6, rtol=1e-5)


def test_step_loss_is_the_mean_over_every_supervised_token_of_the_step(root):
    model, _, examples = fresh(root)
    first = step_plan(len(examples), 2, 2, 1, 2, seed=4)[0]
    pad = model.tokenizer.pad_token_id
    token_sum, tokens, per_batch = 0.0, 0, []
    with torch.no_grad():
        for mb in first:
            out = model.loss(pad_batch([examples[i] for i in mb], pad, "right"))
            token_sum += float(out.loss) * out.n_tokens
            tokens += out.n_tokens
            per_batch.append(float(out.loss))
    losses, _ = run(root, batch_size=2, grad_accum=2)
    assert losses[0] == pytest.approx(token_sum / tokens, abs=1e-6)
    assert abs(sum(per_batch) / len(per_batch) - token_sum / tokens) > 1e-5  # a plain mean of means would differ


def test_with_the_answer_average_each_caption_weighs_the_same_however_long(root):
    model, _, examples = fresh(root)
    first = step_plan(len(examples), 2, 2, 1, 2, seed=4)[0]
    pad = model.tokenizer.pad_token_id
    per_caption = []
    with torch.no_grad():
        for i in (i for mb in first for i in mb):
            per_caption.append(float(model.loss(pad_batch([examples[i]], pad, "right")).loss))
    tokens_mean, _ = run(root, batch_size=2, grad_accum=2)
    answers_mean, _ = run(root, batch_size=2, grad_accum=2, average="answer")
    assert answers_mean[0] == pytest.approx(sum(per_caption) / len(per_caption), abs=1e-6)
    assert abs(answers_mean[0] - tokens_mean[0]) > 1e-5  # the captions' lengths differ, so the means do



def test_the_trainers_foreach_optimizer_gives_the_weights_of_the_per_tensor_loop(monkeypatch):
    """AdamW(foreach=True) in `train()` is a speed change only: bitwise the weights of torch's CPU default."""
    import tunebench.train.loop as loop

    def trained() -> torch.Tensor:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 1))
        data = [{"x": torch.randn(16), "y": torch.randn(1)} for _ in range(12)]

        def collate(items):
            return {"x": torch.stack([i["x"] for i in items]), "y": torch.stack([i["y"] for i in items]),
                    "n_units": len(items)}

        train(model, [{"params": list(model.parameters())}], data, collate,
              lambda m, b: (nn.functional.mse_loss(m(b["x"]), b["y"]), len(b["x"])),
              OptimConfig(lr=1e-2, weight_decay=0.05, batch_size=4, epochs=3, precision="fp32", checkpoint_every=0,
                          group_by_length=False))
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    ours = trained()
    adamw = torch.optim.AdamW
    monkeypatch.setattr(loop.torch.optim, "AdamW", lambda *a, **kw: adamw(*a, **{**kw, "foreach": False}))
    assert torch.equal(ours, trained())
