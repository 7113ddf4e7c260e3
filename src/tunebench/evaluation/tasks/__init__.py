"""Benchmarks as registered tasks, as lmms-eval frames them: one module per benchmark in this package.

A task module builds one `Task` (its loaders, prompt, closed answer set, metric, breakdown and blind-baseline
rules) and passes it to `register_task`; every module here is imported when the registry is first read, so a
fifth benchmark is one new file (docs/adding-a-benchmark.md). The bench, the report, the converter, the blind
baseline and the lmms-eval task writer all ask `get_task`.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunebench.core.errors import DataError, UserError
from tunebench.data.formats.llava import SHORT_ANSWER_SUFFIX as SHORT_ANSWER
from tunebench.data.records import Record
from tunebench.evaluation.metrics import Metric

__all__ = ["SHORT_ANSWER", "Task", "get_task", "load_task_records", "register_task", "task_label", "task_names"]
Loader = Callable[[list[Path], Path | None], list[Record]]


def _first_answer(record: Record) -> str:
    return record.answers[0]


def _no_breakdown(summary: Mapping[str, Any]) -> dict[str, float]:
    return {}


def _percent(summary: Mapping[str, Any]) -> float:
    return 100.0


def _question_id(record: Record) -> dict[str, Any]:
    return {"question_id": str(record.meta.get("question_id", record.id))}


@dataclass(frozen=True)
class Task:
    """One benchmark: how its data loads, how a question is asked, how answers are scored and reported."""

    name: str
    label: str  # how tables, plots and the verdict name its headline
    metric: Metric
    load: Loader  # the benchmark's own files (paths as the user gives them) and the image folder
    load_manifest: Callable[[Path, dict[str, Any]], list[Record]] | None = None  # a Shapes manifest entry
    suffix: str = SHORT_ANSWER  # appended to the question, as LLaVA-1.5 evaluates
    candidates: tuple[str, ...] | None = None  # closed answer set: enables --scoring likelihood
    max_new_tokens: int = 12
    drop: str = ""  # an instruction of the benchmark's own that the suffix replaces
    breakdown: Callable[[Mapping[str, Any]], dict[str, float]] = _no_breakdown  # sub-scores worth a column
    question_type: str = "question_type"  # meta field whose majority answer the blind baseline gives
    blind_constants: tuple[str, ...] = ()  # constant answers the blind baseline also tries (yes/no sets)
    blind_extra: tuple[str, ...] = ()  # summary fields the blind baseline's headline carries too
    headline_max: Callable[[Mapping[str, Any]], float] = _percent  # the headline's maximum, from a summary
    train_prompt: Callable[[Record], str] | None = None  # the question as converted training data asks it
    train_answer: Callable[[Record], str] = _first_answer  # the answer converted data gives
    lmms_fields: Callable[[Record], dict[str, Any]] = _question_id  # what lmms-eval's own functions read

    def question(self, record: Record) -> str:
        text = record.question
        if self.drop and text.endswith(self.drop):
            text = text[: -len(self.drop)]
        return text if not self.suffix or text.endswith(self.suffix.strip()) else text + self.suffix

    def training_question(self, record: Record) -> str:
        return self.train_prompt(record) if self.train_prompt else record.question + SHORT_ANSWER


_TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Add a benchmark to the registry (a task module calls this at import); a second name is an error."""
    if task.name in _TASKS and _TASKS[task.name] is not task:
        raise ValueError(f"a task named {task.name!r} is registered already")
    _TASKS[task.name] = task
    return task


@functools.cache
def _import_task_modules() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


def _discover() -> dict[str, Task]:
    _import_task_modules()
    return _TASKS


def task_names() -> tuple[str, ...]:
    return tuple(_discover())


def get_task(name: str) -> Task:
    tasks = _discover()
    if name not in tasks:
        raise UserError(f"unknown task '{name}' (choose: {', '.join(tasks)})")
    return tasks[name]


def task_label(name: str) -> str:
    """How reports name a task's headline (its own name when it is not registered)."""
    tasks = _discover()
    return tasks[name].label if name in tasks else name


def expect_inputs(task: str, inputs: list[Path], low: int, high: int, what: str) -> None:
    """A one-line error when a loader gets a number of input paths it cannot take."""
    if not low <= len(inputs) <= high:
        raise DataError(f"format {task!r} takes {what}; got {len(inputs)} input path(s)")


def manifest_folder(root: Path, entry: dict[str, Any]) -> Path | None:
    """The image folder a Shapes manifest entry names, inside the Shapes folder."""
    return root / entry["image_folder"] if "image_folder" in entry else None


def load_task_records(task: Task, data: list[Path], image_folder: Path | None = None) -> list[Record]:
    """Records of a task: `data` is a Shapes folder (its manifest says where), or the benchmark's files."""
    from tunebench.core.io import read_json

    if len(data) == 1 and (Path(data[0]) / "manifest.json").is_file():
        root = Path(data[0])
        entries = read_json(root / "manifest.json").get("eval", {})
        if task.name not in entries or task.load_manifest is None:
            raise DataError(f"no evaluation task {task.name!r}; the manifest has {sorted(entries)}", where=str(root))
        return task.load_manifest(root, entries[task.name])
    return task.load([Path(p) for p in data], image_folder)
