"""Peak memory is per training run: a later stage does not inherit an earlier stage's peak."""

from __future__ import annotations

import torch

from tunebench.train.monitor import PeakMemory


def test_cpu_peak_is_sampled_per_run_not_the_process_high_water_mark():
    cpu = torch.device("cpu")
    first = PeakMemory(cpu)
    big = torch.ones(300 * 2**20 // 4)  # 300 MiB, held during the first run's step
    first.sample()
    del big
    second = PeakMemory(cpu)  # the next stage, after the memory was released
    assert first.mb() > second.mb() + 200
