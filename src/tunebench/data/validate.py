"""Validate a LLaVA-format training file before training, listing every problem at once."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunebench.core.errors import DataError
from tunebench.core.io import read_json
from tunebench.data.formats.llava import Problem, check_record, check_top_level, record_id, to_record
from tunebench.data.imagecheck import DEFAULT_MAX_PIXELS, ImageProblem, check_image, resolve_inside
from tunebench.data.records import IMAGE_TOKEN, Record

log = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 2048  # LLaVA-1.5's model_max_length
TURN_OVERHEAD_TOKENS = 4  # role markers and separators a chat template adds per turn (estimate)
CHARS_PER_TOKEN = 4

TokenCounter = Callable[[str], int]


def estimate_tokens(text: str) -> int:
    """Tokenizer-free estimate: the larger of the word count and one token per four characters."""
    return max(len(text.split()), math.ceil(len(text) / CHARS_PER_TOKEN))


def _load_tokenizer(name_or_path: str):
    """A registered tunebench LLM's own tokenizer, else a Hugging Face tokenizer folder or name."""
    from tunebench.components.registry import REGISTRY

    spec = REGISTRY.get(name_or_path)
    if spec is not None and spec.kind == "llm":
        from tunebench.components.registry import load_llm

        return load_llm(name_or_path).tokenizer
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name_or_path)


def tokenizer_counter(name_or_path: str) -> TokenCounter:
    """Exact token counts with the tokenizer the model will use."""
    try:
        tokenizer = _load_tokenizer(name_or_path)
    except Exception as exc:  # any loading failure is a user-facing problem with the name given
        first_line = (str(exc).splitlines() or [""])[0]
        raise DataError(f"cannot load tokenizer: {exc.__class__.__name__}: {first_line}", where=name_or_path) from exc
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


@dataclass
class ValidationReport:
    path: Path
    records: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def bad_indices(self) -> set[int]:
        return {p.index for p in self.problems if p.index >= 0}

    def summary(self) -> str:
        if self.ok:
            return f"{self.path}: {_count(self.records, 'record')}, no problems"
        return (f"{self.path}: {_count(self.records, 'record')}, {_count(len(self.problems), 'problem')} in "
                f"{_count(len(self.bad_indices), 'record')}")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@dataclass(frozen=True)
class Limits:
    max_tokens: int = DEFAULT_MAX_TOKENS
    image_tokens: int = 0  # tokens one image occupies in the sequence (e.g. 576 for LLaVA-1.5)
    max_pixels: int = DEFAULT_MAX_PIXELS


def _token_problem(index: int, rid: str | None, raw: dict, count: TokenCounter, limits: Limits) -> list[Problem]:
    turns = raw["conversations"]
    total = sum(count(t["value"].replace(IMAGE_TOKEN, "")) + TURN_OVERHEAD_TOKENS for t in turns)
    total += limits.image_tokens if raw.get("image") else 0
    if total > limits.max_tokens:
        return [Problem(index, rid, "conversations", f"{total} tokens, above the limit of {limits.max_tokens} "
                                                     "(truncation would cut answers or the image)")]
    return []


def _image_message(image: str, folder: Path, limits: Limits, seen: dict[str, str | None]) -> str | None:
    """Why the image cannot be used (None if it can); each path is opened once however often it is used."""
    if image not in seen:
        try:
            check_image(resolve_inside(folder, image), limits.max_pixels)
            seen[image] = None
        except ImageProblem as exc:
            seen[image] = str(exc)
    return seen[image]


def check_records(doc: list[Any], image_folder: Path, count: TokenCounter, limits: Limits) -> list[Problem]:
    problems: list[Problem] = []
    first_index: dict[str, int] = {}
    images_seen: dict[str, str | None] = {}
    for i, raw in enumerate(doc):
        found = check_record(i, raw)
        rid = record_id(raw)
        if rid is not None:
            if rid in first_index:
                found.append(Problem(i, rid, "id", f"duplicate id, first used by record {first_index[rid]}"))
            first_index.setdefault(rid, i)
        image_readable = not any(p.field in ("record", "image") for p in found)
        if image_readable and isinstance(raw.get("image"), str):
            message = _image_message(raw["image"], image_folder, limits, images_seen)
            found += [Problem(i, rid, "image", message)] if message else []
        if not found:
            found += _token_problem(i, rid, raw, count, limits)
        problems += found
    return problems


def _file_problem(exc: DataError, path: Path) -> Problem:
    """A file that cannot be parsed, with the line and column where parsing stopped (the path is said once,
    by whoever reports the problem)."""
    position = (exc.where or "").removeprefix(str(path)).strip(":").split(":")
    at = f" (line {position[0]}, column {position[1]})" if len(position) == 2 else ""
    return Problem(-1, None, "json", exc.message + at)


def validate_llava_file(path: str | Path, image_folder: str | Path, max_tokens: int = DEFAULT_MAX_TOKENS,
                        tokenizer: str | None = None, image_tokens: int = 0,
                        max_pixels: int = DEFAULT_MAX_PIXELS) -> ValidationReport:
    """Check syntax, schema, placeholders, images, ids and lengths; never raises for bad content."""
    path, image_folder = Path(path), Path(image_folder)
    report = ValidationReport(path)
    try:
        doc = read_json(path)
    except DataError as exc:
        report.problems.append(_file_problem(exc, path))
        return report
    report.problems += check_top_level(doc)
    if report.problems:
        return report
    if not image_folder.is_dir():
        report.problems.append(Problem(-1, None, "image_folder", f"not a folder: {image_folder}"))
        return report
    report.records = len(doc)
    count = tokenizer_counter(tokenizer) if tokenizer else estimate_tokens
    report.problems += check_records(doc, image_folder, count, Limits(max_tokens, image_tokens, max_pixels))
    return report


def load_llava_for_training(path: str | Path, image_folder: str | Path, skip_bad: bool = False,
                            **checks: Any) -> list[Record]:
    """Validated records; by default the first problem stops everything, with skip_bad bad records are
    dropped and counted in the log. A file that cannot be read at all always raises."""
    report = validate_llava_file(path, image_folder, **checks)
    file_level = [p for p in report.problems if p.index < 0]
    if file_level:
        raise DataError(file_level[0].message, where=str(path))
    if report.problems and not skip_bad:
        raise DataError(f"{len(report.problems)} problems in {len(report.bad_indices)} records; first: "
                        f"{report.problems[0].line()} (run `tunebench data validate` for the full list)",
                        where=str(path))
    doc = read_json(path)
    bad = report.bad_indices
    if bad:
        log.warning("%s: skipped %d of %d records with problems", path, len(bad), len(doc))
    return [to_record(raw, image_folder) for i, raw in enumerate(doc) if i not in bad]
