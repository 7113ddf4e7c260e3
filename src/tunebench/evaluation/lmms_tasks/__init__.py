"""lmms-eval task files for tunebench data: the Shapes benchmarks, or a user's own VQA-v2 / GQA / MME / POPE.

    tunebench lmms-tasks bench-out/data --out lmms-tasks
    lmms-eval --model tunebench --model_args run=RUN --tasks tunebench_vqav2,tunebench_pope \
        --include_path lmms-tasks

The YAML files beside this module ship with the package unchanged. Each names lmms-eval's own prompt and
scoring functions (`lmms_eval.tasks.<benchmark>.utils`), so the numbers are lmms-eval's; only the data
loading is ours: `write_tasks` writes one JSON-lines file per benchmark next to a copy of the YAMLs
(lmms-eval resolves `data_files` relative to the YAML); each document names its image relative to the
image folder, and `doc_to_visual` opens it from inside that folder only.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from PIL import Image

from tunebench.core.errors import DataError
from tunebench.core.io import atomic_path
from tunebench.data.imagecheck import ImageProblem, check_image, check_record_images, resolve_inside
from tunebench.data.records import Record
from tunebench.evaluation.tasks import get_task

PREFIX = "tunebench_"
# Benchmarks with shipped YAMLs (a registered task of one's own needs its YAML beside these).
BENCHMARKS = ("vqav2", "gqa", "mme", "pope")


def lmms_task_names(benchmark: str) -> list[str]:
    """lmms-eval task names that read one benchmark's file: closed answer sets are also scored by likelihood
    (lmms-eval's multiple_choice, through the model's loglikelihood)."""
    return [PREFIX + benchmark, *([f"{PREFIX}{benchmark}_choice"] if get_task(benchmark).candidates else [])]


def data_file(benchmark: str) -> str:
    return f"{PREFIX}{benchmark}.jsonl"


def document(benchmark: str, record: Record, image_root: Path) -> dict[str, Any]:
    """One record in the fields lmms-eval's own functions for that benchmark read."""
    doc: dict[str, Any] = {"doc_key": record.id, "benchmark": benchmark, "question": record.question,
                           "answer": record.reference_answer}
    if record.image is not None:
        doc |= {"image_root": str(image_root), "image": Path(record.image).resolve().relative_to(image_root).as_posix()}
    task = get_task(benchmark)
    doc |= task.lmms_fields(record)
    if task.candidates:  # the right candidate as `tunebench eval --scoring likelihood` spells it
        doc["choice"] = next(c for c in task.candidates if c.lower() == doc["answer"].lower())
    return doc


def write_tasks(records_by_benchmark: dict[str, list[Record]], out: Path) -> list[str]:
    """The task folder: the shipped YAMLs of the given benchmarks and their data; the task names."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    unknown = sorted(set(records_by_benchmark) - set(BENCHMARKS))
    if unknown:
        raise DataError(f"no lmms-eval task for {unknown} (choose from {', '.join(BENCHMARKS)})")
    check_record_images(r for rs in records_by_benchmark.values() for r in rs)
    images = [Path(r.image).resolve() for rs in records_by_benchmark.values() for r in rs if r.image]
    image_root = Path(os.path.commonpath(images)) if images else out
    if image_root.is_file():
        image_root = image_root.parent
    names: list[str] = []
    for benchmark, records in records_by_benchmark.items():
        _write_jsonl(out / data_file(benchmark), (document(benchmark, r, image_root) for r in records))
        for name in lmms_task_names(benchmark):
            shutil.copyfile(_shipped(f"{name}.yaml"), out / f"{name}.yaml")
            names.append(name)
    return names


def _shipped(name: str) -> Path:
    return Path(str(resources.files(__name__).joinpath(name)))


def _write_jsonl(path: Path, docs: Iterable[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for doc in docs:
            f.write(json.dumps(doc, ensure_ascii=False) + "\n")


# ----- called by lmms-eval through the YAMLs ---------------------------------------------------------------
def doc_to_visual(doc: dict) -> list[Image.Image]:
    """The document's image, opened from inside its image folder; one-line DataError naming file and sample."""
    try:
        path = resolve_inside(doc["image_root"], doc["image"])
        check_image(path)
        with Image.open(path) as image:
            return [image.convert("RGB")]
    except (ImageProblem, OSError) as exc:
        image = str(doc.get("image"))
        raise DataError(str(exc) if image in str(exc) else f"image {image!r}: {exc}",
                        where=f"sample {doc.get('doc_key')}") from exc


def choice_process_results(doc: dict, results: list) -> dict[str, Any]:
    """Accuracy of the likelier candidate (`doc_to_choice` order), from one loglikelihood answer per candidate.

    lmms-eval's models answer a loglikelihood request with (mean negative log-likelihood per token, greedy);
    lmms-eval 0.7.3 hands them to `process_results` as their string form (`unwrap_generation_output` turns
    every non-text answer into `str`), so its own multiple_choice scoring cannot unpack them: read them back.
    """
    losses = [float((ast.literal_eval(r) if isinstance(r, str) else r)[0]) for r in results]
    choices = get_task(doc["benchmark"]).candidates or ()
    picked = choices[min(range(len(losses)), key=losses.__getitem__)]
    return {"acc": float(picked == doc["choice"]), "yes_ratio": {"doc_key": doc["doc_key"], "picked": picked}}


def choice_yes_ratio(items: list[dict]) -> float:
    """Share of documents whose likelier candidate is "Yes" (the yes-ratio of a yes/no set)."""
    return sum(item["picked"] == "Yes" for item in items) / len(items) if items else 0.0
