"""Load a dataset by format name (`tunebench data convert`, Q-Former pretraining): each benchmark's own
format through the task registry, plus the training formats and MME's parquet release."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tunebench.core.errors import DataError, UserError
from tunebench.data.formats import ccsbu, llava, mme
from tunebench.data.records import Record


def _mme_parquet(inputs: list[Path], image_folder: Path | None) -> list[Record]:
    if image_folder is None:
        raise DataError("mme-parquet needs --image-folder: the folder its images are written into")
    return mme.load_mme_parquet(inputs[0], image_folder)


# name -> (what it takes, loader) for the formats that are not a benchmark's own
OTHER_FORMATS: dict[str, tuple[str, Callable[[list[Path], Path | None], list[Record]]]] = {
    "mme-parquet": ("parquet file or folder (needs --image-folder to write the images into)", _mme_parquet),
    "llava": ("conversation JSON", lambda inputs, folder: llava.load_llava_json(inputs[0], folder)),
    "ccsbu": ("cc_sbu_align folder", lambda inputs, folder: ccsbu.load_ccsbu(inputs[0])),
}


def check_format(fmt: str) -> None:
    """A usage error unless `fmt` names a format `load_format` reads."""
    from tunebench.evaluation.tasks import task_names

    if fmt not in (*task_names(), *OTHER_FORMATS):
        raise UserError(f"unknown format {fmt!r}; choose one of {', '.join((*task_names(), *OTHER_FORMATS))}",
                        where="--from")


def load_format(fmt: str, inputs: list[Path], image_folder: Path | None = None) -> list[Record]:
    """Records of one dataset given in format `fmt` (a task name, or one of OTHER_FORMATS)."""
    from tunebench.evaluation.tasks import expect_inputs, get_task, task_names

    inputs = [Path(p) for p in inputs]
    check_format(fmt)
    if fmt in task_names():
        return get_task(fmt).load(inputs, image_folder)
    what, load = OTHER_FORMATS[fmt]
    expect_inputs(fmt, inputs, 1, 1, what)
    return load(inputs, image_folder)
