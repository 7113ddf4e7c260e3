"""MiniGPT-4's stage-2 set, `cc_sbu_align/`: `filter_cap.json` = {"annotations": [{"image_id",
"caption"}]} and the images as `image/<image_id>.jpg`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunebench.core.io import atomic_write_json, read_json
from tunebench.data.formats._common import require, require_list
from tunebench.data.records import IMAGE_TOKEN, Record, Turn

TASK = "ccsbu"
ANNOTATION_FILE = "filter_cap.json"
IMAGE_FOLDER = "image"
# The instruction a caption answers; MiniGPT-4 draws one from a small list of "describe" prompts.
PROMPT = "Describe this image in detail."


@dataclass(frozen=True)
class CaptionItem:
    image_id: str
    caption: str


def write_ccsbu(root: Path, items: list[CaptionItem]) -> Path:
    """The annotation file; the caller writes the JPEG images into root/image/<image_id>.jpg."""
    doc = {"annotations": [{"image_id": item.image_id, "caption": item.caption} for item in items]}
    atomic_write_json(root / ANNOTATION_FILE, doc, indent=None)
    return root / ANNOTATION_FILE


def load_ccsbu(root: str | Path) -> list[Record]:
    """One record per caption: human asks for a detailed description, gpt answers with the caption."""
    root = Path(root)
    path = root / ANNOTATION_FILE
    doc = read_json(path)
    records = []
    for i, ann in enumerate(require_list(doc, "annotations", str(path))):
        where = f"{path}: annotations[{i}]"
        image_id = str(require(ann, "image_id", (str, int), where))
        caption = require(ann, "caption", str, where)
        records.append(Record(
            id=image_id, image=str(root / IMAGE_FOLDER / f"{image_id}.jpg"),
            turns=(Turn("human", f"{IMAGE_TOKEN}\n{PROMPT}"), Turn("gpt", caption)), task=TASK,
            meta={"image_id": image_id},
        ))
    return records
