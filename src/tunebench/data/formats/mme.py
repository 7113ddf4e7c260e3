"""MME, in both published layouts.

Release folders (`MME_Benchmark/<subtask>/`): each image has a `<stem>.txt` with two lines
`question<TAB>Yes|No` (one Yes, one No). Subtasks come either FLAT (images and .txt side by side, as
existence, count, position, color, OCR and the cognition subtasks are released) or SPLIT
(`images/` + `questions_answers_YN/`, as artwork, celebrity, landmark, posters, scene are).
lmms-lab parquet: columns question_id ("<subtask>/<file>"), image (struct with bytes), question,
answer ("Yes"/"No"), category (the subtask). Records of both layouts get the same ids.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from tunebench.core.errors import DataError
from tunebench.core.io import atomic_write_text
from tunebench.data.formats._common import IMAGE_SUFFIXES
from tunebench.data.records import Record, Turn

TASK = "mme"
QA_FOLDER = "questions_answers_YN"
SUFFIX = " Please answer yes or no."
# The four perception subtasks the Shapes world can ask about, and the skill each one measures.
SUBTASK_SKILL = {"existence": "existence", "count": "count", "position": "spatial", "color": "color"}


@dataclass(frozen=True)
class MmeImage:
    subtask: str
    file_name: str
    source: Path
    questions: tuple[tuple[str, str], ...]  # (question, "Yes" | "No"), the Yes first as released


def write_mme(root: Path, images: list[MmeImage], split_layout: bool = False) -> Path:
    """Copy each image into its subtask folder and write its question file (FLAT layout by default)."""
    for image in images:
        folder = root / image.subtask
        image_dir = folder / "images" if split_layout else folder
        qa_dir = folder / QA_FOLDER if split_layout else folder
        image_dir.mkdir(parents=True, exist_ok=True)
        qa_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(image.source, image_dir / image.file_name)
        lines = "".join(f"{q}\t{a}\n" for q, a in image.questions)
        atomic_write_text(qa_dir / f"{Path(image.file_name).stem}.txt", lines)
    return root


def _parse_qa_file(path: Path) -> list[tuple[str, str]]:
    pairs = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.rstrip("\r\n").split("\t")
        if len(parts) != 2 or parts[1].strip().lower() not in ("yes", "no"):
            raise DataError("expected 'question<TAB>Yes|No'", where=f"{path}:{lineno}")
        pairs.append((parts[0].strip(), parts[1].strip().lower()))
    return pairs


def _find_image(folder: Path, stem: str) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    return None


def _records(subtask: str, file_name: str, image: str, pairs: list[tuple[str, str]]) -> list[Record]:
    key = f"{subtask}/{file_name}"
    meta = {"subtask": subtask, "image": key}
    if subtask in SUBTASK_SKILL:
        meta["skill"] = SUBTASK_SKILL[subtask]
    return [Record(id=f"{key}#{k}", image=image, turns=(Turn("human", question),), answers=(answer,),
                   task=TASK, meta=dict(meta)) for k, (question, answer) in enumerate(pairs)]


def load_mme(root: str | Path) -> list[Record]:
    """Every subtask folder under `root` (the folder holding existence/, count/, ...), sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise DataError("MME folder not found", where=str(root))
    records: list[Record] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        split = (folder / "images").is_dir() and (folder / QA_FOLDER).is_dir()
        image_dir, qa_dir = (folder / "images", folder / QA_FOLDER) if split else (folder, folder)
        for qa_file in sorted(qa_dir.glob("*.txt")):
            image = _find_image(image_dir, qa_file.stem)
            if image is None:
                raise DataError("no image with the same name next to this question file", where=str(qa_file))
            records += _records(folder.name, image.name, str(image), _parse_qa_file(qa_file))
    if not records:
        raise DataError("no MME subtask folders with question files found", where=str(root))
    return records


PARQUET_COLUMNS = ("question_id", "image", "question", "answer", "category")


def _parquet_files(path: Path) -> list[Path]:
    files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
    if not files or not files[0].exists():
        raise DataError("no parquet files found", where=str(path))
    return files


def _materialise(image: dict | None, target: Path, where: str) -> None:
    data = (image or {}).get("bytes")
    if not data:
        raise DataError("row has no image bytes", where=where)
    if target.exists() and target.stat().st_size == len(data) and target.read_bytes() == data:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def load_mme_parquet(path: str | Path, image_folder: str | Path) -> list[Record]:
    """The lmms-lab/MME parquet file(s); image bytes are written once under `image_folder`."""
    import pyarrow.parquet as pq

    path, image_folder = Path(path), Path(image_folder)
    rows_by_image: dict[str, list[tuple[str, str]]] = {}
    subtask_of: dict[str, str] = {}
    for file in _parquet_files(path):
        parquet = pq.ParquetFile(file)
        missing = [c for c in PARQUET_COLUMNS if c not in parquet.schema_arrow.names]
        if missing:
            raise DataError(f"missing columns {missing}", where=str(file))
        for batch in parquet.iter_batches(batch_size=64, columns=list(PARQUET_COLUMNS)):
            for row in batch.to_pylist():
                question_id = str(row["question_id"])
                file_name = Path(question_id).name
                key = f"{row['category']}/{file_name}"
                if key not in rows_by_image:
                    _materialise(row["image"], image_folder / key, f"{file}: {question_id}")
                    subtask_of[key] = str(row["category"])
                answer = str(row["answer"]).strip().lower()
                if answer not in ("yes", "no"):
                    raise DataError(f"answer must be Yes or No, got {row['answer']!r}", where=str(file))
                rows_by_image.setdefault(key, []).append((str(row["question"]), answer))
    records: list[Record] = []
    for key, pairs in rows_by_image.items():
        records += _records(subtask_of[key], Path(key).name, str(image_folder / key), pairs)
    return records

