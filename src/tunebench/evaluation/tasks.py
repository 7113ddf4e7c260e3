"""Tasks as lmms-eval frames them: data + prompt + metric. One entry per benchmark format."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunebench.core.errors import UserError
from tunebench.data.records import Record

SHORT_ANSWER = "\nAnswer the question using a single word or phrase."


@dataclass(frozen=True)
class Task:
    name: str
    metric: str
    suffix: str  # appended to the question, as LLaVA-1.5 evaluates
    candidates: tuple[str, ...] | None  # closed answer set: enables --scoring likelihood
    max_new_tokens: int = 12
    drop: str = ""  # an instruction of the benchmark's own that the suffix replaces

    def question(self, record: Record) -> str:
        text = record.question
        if self.drop and text.endswith(self.drop):
            text = text[: -len(self.drop)]
        return text if not self.suffix or text.endswith(self.suffix.strip()) else text + self.suffix


# Yes/no sets get the short-answer instruction too, as lmms-eval's LLaVA prompts do (MME's own
# " Please answer yes or no." gives way to it); without it the model answers in sentences.
TASKS: dict[str, Task] = {
    "vqav2": Task("vqav2", "vqav2", SHORT_ANSWER, None),
    "gqa": Task("gqa", "gqa", SHORT_ANSWER, None),
    "mme": Task("mme", "mme", SHORT_ANSWER, ("Yes", "No"), drop=" Please answer yes or no."),
    "pope": Task("pope", "pope", SHORT_ANSWER, ("Yes", "No")),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise UserError(f"unknown task '{name}' (choose: {', '.join(TASKS)})")
    return TASKS[name]


def load_task_records(task: Task, data: list[Path], image_folder: Path | None = None) -> list[Record]:
    """Records of a task: `data` is a Shapes folder (its manifest says where), or the benchmark's files."""
    from tunebench.data.formats.registry import load_format, load_shapes_eval

    if len(data) == 1 and (Path(data[0]) / "manifest.json").is_file():
        return load_shapes_eval(data[0], task.name)
    return load_format(task.name, [Path(p) for p in data], image_folder)
