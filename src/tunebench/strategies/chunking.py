"""Documents -> overlapping word windows that never cross a paragraph, each tagged with its source."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tunebench.strategies.documents import Doc


@dataclass(frozen=True)
class Chunk:
    id: str
    doc_id: str
    title: str
    text: str

    @property
    def indexed_text(self) -> str:
        """The title travels with every chunk: a paragraph that says "It" still names its entity."""
        return f"{self.title}: {self.text}"


def windows(words: list[str], size: int, overlap: int) -> list[list[str]]:
    """Windows of `size` words, each starting `size - overlap` after the previous; the last may be short."""
    if size <= 0 or not 0 <= overlap < size:
        raise ValueError("need size > 0 and 0 <= overlap < size")
    if len(words) <= size:
        return [words] if words else []
    step = size - overlap
    out = [words[start : start + size] for start in range(0, len(words) - overlap, step)]
    return [w for w in out if w]


def chunk_doc(doc: Doc, size: int, overlap: int) -> list[Chunk]:
    pieces: list[str] = []
    for paragraph in doc.text.split("\n\n"):
        pieces += [" ".join(w) for w in windows(paragraph.split(), size, overlap)]
    return [Chunk(f"{doc.id}#{i}", doc.id, doc.title, text) for i, text in enumerate(pieces)]


def chunk_docs(docs: Sequence[Doc], size: int, overlap: int) -> list[Chunk]:
    return [chunk for doc in docs for chunk in chunk_doc(doc, size, overlap)]
