"""Learning-rate schedule and the deterministic step plan (order, epochs, length grouping, data parallelism)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tunebench.train.loop import OptimConfig, lr_factor
from tunebench.train.sampling import epoch_batches, step_plan


def factors(total: int, **cfg) -> list[float]:
    config = OptimConfig(**cfg)
    return [lr_factor(step, total, config) for step in range(total)]


def test_linear_warmup_reaches_the_peak_then_cosine_decays():
    f = factors(100, warmup_ratio=0.1)
    assert f[:10] == pytest.approx([(i + 1) / 10 for i in range(10)])  # 10 warmup steps, the last at the peak
    assert f[10] == pytest.approx(1.0)
    after = f[10:]
    assert all(a > b for a, b in itertools.pairwise(after))  # strictly decreasing
    assert f[55] == pytest.approx(0.5 * (1 + math.cos(math.pi * 45 / 90)))
    assert 0 < f[-1] < 0.01


def test_warmup_is_at_least_one_step_and_rounds_up():
    assert factors(10, warmup_ratio=0.03)[0] == pytest.approx(1.0)  # ceil(0.3) = 1 step of warmup
    assert factors(100, warmup_ratio=0.03)[:3] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert factors(5, warmup_ratio=0.0)[0] == 1.0  # no warmup: the cosine starts at the peak


@pytest.mark.parametrize("floor", [1 / 3, 0.8])
def test_cosine_floor_is_a_fraction_of_the_peak(floor):
    f = factors(200, warmup_ratio=0.05, min_lr_ratio=floor)
    assert min(f[10:]) >= floor
    assert f[-1] == pytest.approx(floor, abs=1e-3)
    assert lr_factor(200, 200, OptimConfig(warmup_ratio=0.05, min_lr_ratio=floor)) == pytest.approx(floor)


def test_constant_schedule_after_warmup():
    f = factors(50, warmup_ratio=0.1, schedule="constant")
    assert f[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0]) and set(f[5:]) == {1.0}


def flat(plan) -> list[int]:
    return [i for step in plan for mb in step for i in mb]


def test_step_plan_is_a_pure_function_of_its_arguments():
    a = step_plan(37, 4, 2, 1, 2.0, seed=5)
    assert a == step_plan(37, 4, 2, 1, 2.0, seed=5)
    assert a != step_plan(37, 4, 2, 1, 2.0, seed=6)


def test_every_epoch_sees_every_sample_once_in_a_new_order():
    plan = step_plan(37, 4, 2, 1, 2.0, seed=5)
    order = flat(plan)
    assert sorted(order[:37]) == sorted(order[37:]) == list(range(37))
    assert order[:37] != order[37:]
    assert all(len(step) == 2 for step in plan[:-1]) and all(len(mb) <= 4 for step in plan for mb in step)
    assert len(plan) == math.ceil(2 * math.ceil(37 / 4) / 2)


def test_fractional_epochs_cut_the_last_epoch():
    assert len(flat(step_plan(40, 4, 1, 1, 1.5, seed=0))) == 60
    assert len(step_plan(40, 4, 1, 1, 0.25, seed=0)) == round(10 * 0.25)


def test_n_processes_share_the_global_micro_batches_of_one_process():
    for lengths in (None, [i % 7 for i in range(50)]):
        one = step_plan(50, 6, 2, 1, 1.0, seed=3, lengths=lengths)
        two = step_plan(50, 3, 2, 2, 1.0, seed=3, lengths=lengths)
        assert one == two
        # rank r takes mb[r::2]: the two ranks together hold exactly the global micro-batch
        for step in two:
            for mb in step:
                assert sorted(mb[0::2] + mb[1::2]) == sorted(mb)


def padding(batches, lengths) -> int:
    return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)


def test_length_grouping_cuts_padding_but_keeps_every_sample():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 500, size=256).tolist()
    grouped = epoch_batches(256, 8, seed=1, epoch=0, lengths=lengths)
    plain = epoch_batches(256, 8, seed=1, epoch=0)
    assert sorted(i for b in grouped for i in b) == list(range(256))
    assert padding(grouped, lengths) < 0.2 * padding(plain, lengths)
    # batches of similar length, yet their order is shuffled (not longest-first across the epoch)
    maxima = [max(lengths[i] for i in b) for b in grouped]
    assert maxima != sorted(maxima, reverse=True)
    assert grouped == epoch_batches(256, 8, seed=1, epoch=0, lengths=lengths)
    assert grouped != epoch_batches(256, 8, seed=1, epoch=1, lengths=lengths)
