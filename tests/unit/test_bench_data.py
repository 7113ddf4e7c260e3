"""The bench's data step: a damaged evaluation image stops the bench before any training, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunebench.bench.config import MAIN_ARMS, BenchConfig, DataSpec
from tunebench.bench.pipeline import prepare_data
from tunebench.core.errors import DataError


def test_a_deleted_evaluation_image_names_the_file_and_the_record(tmp_path):
    cfg = BenchConfig(profile="smoke", arms=list(MAIN_ARMS),
                      data=DataSpec(train_scenes=6, test_scenes=3, captions=6, instructions=6, eval_per_task=4))
    _, evals, _ = prepare_data(cfg, tmp_path)
    record = evals["pope"][0]
    Path(record.image).unlink()
    with pytest.raises(DataError) as caught:
        prepare_data(cfg, tmp_path)
    stem = Path(record.image).with_suffix("")  # VQA-v2 and GQA records fall back to .jpg when the file is gone
    first = next(r for rs in evals.values() for r in rs if Path(r.image).with_suffix("") == stem)
    line = caught.value.one_line()
    assert line.startswith(f"record {first.id}: {stem}.") and line.endswith(": image not found")
