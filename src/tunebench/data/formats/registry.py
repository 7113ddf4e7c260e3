"""Load any supported format by name (for the CLI and for generated manifests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunebench.core.errors import DataError
from tunebench.data.formats import ccsbu, gqa, llava, mme, pope, vqav2
from tunebench.data.records import Record

FORMATS = ("vqav2", "gqa", "mme", "mme-parquet", "pope", "llava", "ccsbu")
_INPUTS = {
    "vqav2": "QUESTIONS.json [ANNOTATIONS.json]",
    "gqa": "QUESTIONS.json",
    "mme": "MME_Benchmark folder",
    "mme-parquet": "parquet file or folder (needs --image-folder to write the images into)",
    "pope": "one or more coco_pope_<split>.json",
    "llava": "conversation JSON",
    "ccsbu": "cc_sbu_align folder",
}


def _expect(fmt: str, inputs: list[Path], low: int, high: int) -> None:
    if not low <= len(inputs) <= high:
        raise DataError(f"format {fmt!r} takes {_INPUTS[fmt]}; got {len(inputs)} input path(s)")


def load_format(fmt: str, inputs: list[Path], image_folder: Path | None = None) -> list[Record]:
    """Records of one dataset given in format `fmt` (see FORMATS for the names)."""
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "vqav2":
        _expect(fmt, inputs, 1, 2)
        return vqav2.load_vqav2(inputs[0], inputs[1] if len(inputs) > 1 else None, image_folder)
    if fmt == "pope":
        _expect(fmt, inputs, 1, len(pope.SPLITS))
        return [r for path in inputs for r in pope.load_pope(path, image_folder)]
    _expect(fmt, inputs, 1, 1)
    if fmt == "gqa":
        return gqa.load_gqa(inputs[0], image_folder)
    if fmt == "mme":
        return mme.load_mme(inputs[0])
    if fmt == "mme-parquet":
        if image_folder is None:
            raise DataError("mme-parquet needs --image-folder: the folder its images are written into")
        return mme.load_mme_parquet(inputs[0], image_folder)
    if fmt == "llava":
        return llava.load_llava_json(inputs[0], image_folder)
    return ccsbu.load_ccsbu(inputs[0])


def load_manifest_task(root: Path, entry: dict[str, Any], task: str) -> list[Record]:
    """Records of one evaluation task described in a Shapes manifest.json (paths relative to root)."""
    folder = root / entry["image_folder"] if "image_folder" in entry else None
    if task == "vqav2":
        return load_format(task, [root / entry["questions"], root / entry["annotations"]], folder)
    if task == "gqa":
        return load_format(task, [root / entry["questions"]], folder)
    if task == "mme":
        return load_format(task, [root / entry["root"]])
    if task == "pope":
        return load_format(task, [root / f for f in entry["files"]], folder)
    raise DataError(f"unknown evaluation task {task!r}")


def load_shapes_eval(root: str | Path, task: str) -> list[Record]:
    """Records of an evaluation task of a generated Shapes folder, via its manifest."""
    from tunebench.core.io import read_json

    root = Path(root)
    manifest = read_json(root / "manifest.json")
    entries = manifest.get("eval", {})
    if task not in entries:
        raise DataError(f"no evaluation task {task!r}; the manifest has {sorted(entries)}", where=str(root))
    return load_manifest_task(root, entries[task], task)
