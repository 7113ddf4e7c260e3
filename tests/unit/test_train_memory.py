"""Peak memory is per training run: a later stage does not inherit an earlier stage's peak."""

from __future__ import annotations

import subprocess
import sys

# In a fresh interpreter: inside the test session, memory freed by earlier tests may still be resident in the
# allocator's heap, so a new 300 MiB tensor need not raise the resident set at all.
PROBE = """
import torch
from tunebench.train.monitor import PeakMemory

cpu = torch.device("cpu")
first = PeakMemory(cpu)
big = torch.ones(300 * 2**20 // 4)  # 300 MiB, held during the first run's step
first.sample()
del big
second = PeakMemory(cpu)  # the next stage, after the memory was released
print(first.mb(), second.mb())
"""


def test_cpu_peak_is_sampled_per_run_not_the_process_high_water_mark():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120)
    first, second = map(float, out.stdout.split())
    assert first > second + 200
