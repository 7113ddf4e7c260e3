"""Chunking, dense + BM25 + RRF retrieval, the on-disk index, re-indexing, recall@k, example selection."""

from __future__ import annotations

import re
import zlib

import numpy as np
import pytest

from tunebench.strategies.chunking import Chunk, chunk_doc, windows
from tunebench.strategies.documents import Doc
from tunebench.strategies.retrieval import HybridIndex, nearest, rrf
from tunebench.strategies.scoring import recall_at_k


def hashing_embed(texts: list[str], dim: int = 256) -> np.ndarray:
    """Bag of words hashed into `dim` buckets, unit length: a deterministic stand-in for a sentence model."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in re.findall(r"\w+", text.lower()):
            out[row, zlib.crc32(word.encode()) % dim] += 1.0
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


DOCS = [
    Doc("d-velna", "Velna", "Velna is a town on the Oskar River.\n\nThe mayor of Velna is Tam Brek."),
    Doc("d-korr", "Korr Works", "Korr Works makes kettles in Dunmere.\n\nIts chief executive is Ada Voss."),
    Doc("d-dunmere", "Dunmere", "Dunmere is a harbour town.\n\nAbout 4100 people live in Dunmere."),
]


def _index() -> HybridIndex:
    index = HybridIndex(hashing_embed, rrf_k=60)
    index.add([c for d in DOCS for c in chunk_doc(d, size=50, overlap=5)])
    return index


def test_windows_overlap_and_cover_every_word():
    words = [str(i) for i in range(23)]
    parts = windows(words, size=10, overlap=3)
    assert parts[0] == words[:10] and parts[1][0] == "7" and parts[-1][-1] == "22"
    assert windows(words[:4], 10, 3) == [words[:4]] and windows([], 10, 3) == []
    with pytest.raises(ValueError):
        windows(words, 5, 5)


def test_chunks_never_cross_paragraphs_and_carry_their_title():
    chunks = chunk_doc(DOCS[0], size=50, overlap=5)
    assert [c.text for c in chunks] == ["Velna is a town on the Oskar River.", "The mayor of Velna is Tam Brek."]
    assert chunks[1].indexed_text.startswith("Velna: ") and chunks[1].id == "d-velna#1"


def test_rrf_rewards_agreement_between_rankings():
    assert rrf([[1, 2, 3], [2, 3, 1]], k=60) == [2, 1, 3]  # 1/62+1/61 > 1/61+1/63 > 1/63+1/62
    assert rrf([[5, 6], [6, 7]], k=60)[0] == 6


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_each_mode_finds_the_source_passage(mode):
    found = _index().search(["Who is the chief executive of Korr Works?", "How many people live in Dunmere?"], 1,
                            mode)
    assert found[0][0].id == "d-korr#1" and found[1][0].id == "d-dunmere#1"


def test_saved_index_loads_back_identical(tmp_path):
    index = _index()
    index.save(tmp_path / "ix")
    loaded = HybridIndex.load(tmp_path / "ix", hashing_embed)
    queries = ["mayor of Velna", "kettles"]
    for mode in ("dense", "bm25", "hybrid"):
        assert index.search(queries, 3, mode) == loaded.search(queries, 3, mode)


def test_replace_docs_swaps_only_the_changed_document(tmp_path):
    index = _index()
    before = len(index.chunks)
    index.replace_docs(chunk_doc(Doc("d-velna", "Velna", "Velna is a town.\n\nThe mayor of Velna is Ora Pim."), 50, 5))
    assert len(index.chunks) == before and index.dense.ntotal == before
    texts = [c.text for c in index.search(["Who is the mayor of Velna?"], 2, "hybrid")[0]]
    assert "The mayor of Velna is Ora Pim." in texts and all("Tam Brek" not in t for t in texts)
    index.save(tmp_path / "ix")
    assert HybridIndex.load(tmp_path / "ix", hashing_embed).search(["mayor Velna"], 1, "bm25")[0][0].text.endswith(
        "Ora Pim.")


def test_empty_index_and_bad_mode():
    assert HybridIndex(hashing_embed).search(["x"], 3) == [[]]
    with pytest.raises(ValueError, match="mode"):
        _index().search(["x"], 1, "fuzzy")


def test_recall_at_k_by_source_documents_or_answer_text():
    a = Chunk("a#0", "a", "A", "The price is 40 crowns.")
    b = Chunk("b#0", "b", "B", "Nothing here.")
    assert recall_at_k([a, b], ("a", "c"), ()) == 0.5
    assert recall_at_k([b], ("a",), ()) == 0.0
    assert recall_at_k([b, a], (), ("40 crowns",)) == 1.0
    assert recall_at_k([b], (), ("40 crowns",)) == 0.0
    assert recall_at_k([Chunk("c#0", "c", "C", "1400 crowns")], (), ("400",)) == 0.0  # whole tokens only


def test_nearest_returns_most_similar_first():
    pool = hashing_embed(["kettle price", "river town", "mayor election"])
    assert nearest(hashing_embed(["which river", "the mayor"]), pool, 1) == [[1], [2]]
    assert len(nearest(hashing_embed(["x"]), pool, 10)[0]) == 3
