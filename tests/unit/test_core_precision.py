"""The precision policy: `auto` follows the hardware, explicit bf16 on emulating CPUs warns, results carry it."""

from __future__ import annotations

import logging

import pytest
import torch

from tunebench.core import device as dev
from tunebench.core.device import resolve_precision
from tunebench.core.errors import UserError
from tunebench.train.loop import OptimConfig, train
from tunebench.train.stage import optim_spec


@pytest.fixture
def cpu_bf16(monkeypatch):
    """Pretend the CPU does (True) or does not (False) compute bf16 natively."""
    def set_native(native: bool) -> None:
        monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: native)
        monkeypatch.setattr(dev, "bf16_slowdown", lambda: 23.0)
        dev._warn_emulated_bf16.cache_clear()
    return set_native


def test_auto_picks_fp32_on_a_cpu_without_native_bf16(cpu_bf16):
    cpu_bf16(False)
    choice = resolve_precision("auto", "cpu")
    assert choice.used == "fp32" and choice.dtype == torch.float32 and not choice.native_bf16
    assert not torch.is_autocast_enabled("cpu")
    with choice.autocast():
        assert not torch.is_autocast_enabled("cpu")


def test_auto_picks_bf16_on_a_cpu_with_native_bf16(cpu_bf16):
    cpu_bf16(True)
    choice = resolve_precision("auto", "cpu")
    assert choice.used == "bf16" and choice.dtype == torch.bfloat16 and choice.native_bf16
    with choice.autocast():
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
        assert (torch.ones(2, 3) @ torch.ones(3, 2)).dtype == torch.bfloat16


def test_explicit_bf16_on_an_emulating_cpu_runs_and_warns_with_the_measured_slowdown(cpu_bf16, caplog):
    cpu_bf16(False)
    with caplog.at_level(logging.WARNING, logger="tunebench.core.device"):
        choice = resolve_precision("bf16", "cpu")
    assert choice.used == "bf16" and choice.requested == "bf16"
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "23x slower than fp32" in warned[0] and "\n" not in warned[0]


def test_explicit_bf16_on_a_native_cpu_and_fp32_anywhere_say_nothing(cpu_bf16, caplog):
    cpu_bf16(True)
    with caplog.at_level(logging.WARNING, logger="tunebench.core.device"):
        assert resolve_precision("bf16", "cpu").used == "bf16"
        assert resolve_precision("fp32", "cpu").used == "fp32"
    assert not caplog.records


def test_an_unknown_precision_is_a_user_error():
    with pytest.raises(UserError, match="unknown precision 'fp16'"):
        resolve_precision("fp16", "cpu")  # type: ignore[arg-type]


def test_the_slowdown_is_measured_not_assumed():
    assert dev.bf16_slowdown() > 0


@pytest.mark.parametrize("native", [False, True])
def test_the_run_key_holds_the_resolved_precision(cpu_bf16, native):
    cpu_bf16(native)
    assert optim_spec(OptimConfig(precision="auto"))["precision"] == ("bf16" if native else "fp32")
    assert optim_spec(OptimConfig(precision="fp32"))["precision"] == "fp32"


@pytest.mark.parametrize("native", [False, True])
def test_a_training_result_carries_the_precision_it_computed_in(cpu_bf16, native):
    cpu_bf16(native)
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    data = [{"x": torch.randn(4), "y": torch.randn(1)} for _ in range(4)]
    seen = []

    def loss_fn(m, batch):
        seen.append(torch.is_autocast_enabled("cpu"))
        return torch.nn.functional.mse_loss(m(batch["x"]).float(), batch["y"]), len(batch["x"])

    def collate(items):
        return {"x": torch.stack([i["x"] for i in items]), "y": torch.stack([i["y"] for i in items]),
                "n_units": len(items)}

    result = train(model, [{"params": list(model.parameters())}], data, collate, loss_fn,
                   OptimConfig(lr=1e-2, batch_size=2, epochs=1, checkpoint_every=0, group_by_length=False))
    want = "bf16" if native else "fp32"
    assert result.precision["precision"] == want and result.to_dict()["precision"]["precision"] == want
    assert result.precision["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert seen == [native] * 2  # every step under autocast exactly when bf16 was chosen
