"""Hybrid retrieval: dense (sentence embeddings in a FAISS index on disk) + BM25 (bm25s), fused by RRF.

Re-indexing after a knowledge update replaces only the changed documents' vectors (FAISS ID map) and
rebuilds the BM25 statistics, which depend on the whole corpus but are cheap to recompute.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import bm25s
import faiss
import numpy as np

from tunebench.core.io import atomic_write_text
from tunebench.strategies.chunking import Chunk

EmbedFn = Callable[[list[str]], np.ndarray]


def st_embed_fn(model, batch_size: int = 64) -> EmbedFn:
    """A sentence-transformers model as a function: texts -> float32 unit vectors."""
    def embed(texts: list[str]) -> np.ndarray:
        vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                               show_progress_bar=False)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    return embed


def _bm25_tokens(texts: Sequence[str]) -> list[list[str]]:
    return bm25s.tokenize(list(texts), stopwords="en", return_ids=False, show_progress=False)


def rrf(rankings: Sequence[Sequence[int]], k: int = 60) -> list[int]:
    """Reciprocal-rank fusion: each list adds 1 / (k + rank) to its items (rank from 1); ties keep first-seen."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores, key=lambda item: -scores[item])


class HybridIndex:
    """Chunks with a dense FAISS index and a BM25 index over the same texts."""

    def __init__(self, embed: EmbedFn, rrf_k: int = 60):
        self.embed = embed
        self.rrf_k = rrf_k
        self.chunks: dict[int, Chunk] = {}
        self.next_id = 0
        self.dense: faiss.IndexIDMap2 | None = None
        self.bm25: bm25s.BM25 | None = None
        self.bm25_ids: list[int] = []

    def add(self, chunks: Sequence[Chunk]) -> None:
        if not chunks:
            return
        vectors = self.embed([c.indexed_text for c in chunks])
        if self.dense is None:
            self.dense = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
        ids = np.arange(self.next_id, self.next_id + len(chunks), dtype=np.int64)
        self.dense.add_with_ids(vectors, ids)
        self.chunks.update(zip(ids.tolist(), chunks, strict=True))
        self.next_id += len(chunks)
        self._rebuild_bm25()

    def remove_docs(self, doc_ids: set[str]) -> int:
        gone = [i for i, c in self.chunks.items() if c.doc_id in doc_ids]
        if gone and self.dense is not None:
            self.dense.remove_ids(np.asarray(gone, dtype=np.int64))
        for i in gone:
            del self.chunks[i]
        return len(gone)

    def replace_docs(self, chunks: Sequence[Chunk]) -> None:
        """The knowledge update: drop every chunk of the updated documents, index their new chunks."""
        self.remove_docs({c.doc_id for c in chunks})
        self.add(chunks)

    def _rebuild_bm25(self) -> None:
        self.bm25_ids = sorted(self.chunks)
        self.bm25 = bm25s.BM25()
        self.bm25.index(_bm25_tokens([self.chunks[i].indexed_text for i in self.bm25_ids]), show_progress=False)

    def rank_dense(self, queries: Sequence[str], depth: int) -> list[list[int]]:
        depth = min(depth, len(self.chunks))
        _, ids = self.dense.search(self.embed(list(queries)), depth)
        return [[int(i) for i in row if i >= 0] for row in ids]

    def rank_bm25(self, queries: Sequence[str], depth: int) -> list[list[int]]:
        depth = min(depth, len(self.bm25_ids))
        rows, scores = self.bm25.retrieve(_bm25_tokens(queries), k=depth, show_progress=False)
        # Chunks sharing no word with the query score 0: they are not a BM25 hit at all.
        return [[self.bm25_ids[int(i)] for i, s in zip(row, score, strict=True) if s > 0]
                for row, score in zip(rows, scores, strict=True)]

    def search(self, queries: Sequence[str], k: int, mode: str = "hybrid", depth: int = 20) -> list[list[Chunk]]:
        """Top-k chunks per query by `mode`: dense, bm25 or hybrid (RRF of the two rankings)."""
        if not self.chunks:
            return [[] for _ in queries]
        if mode == "dense":
            ranked = self.rank_dense(queries, k)
        elif mode == "bm25":
            ranked = self.rank_bm25(queries, k)
        elif mode == "hybrid":
            dense, sparse = self.rank_dense(queries, depth), self.rank_bm25(queries, depth)
            ranked = [rrf([d, s], self.rrf_k) for d, s in zip(dense, sparse, strict=True)]
        else:
            raise ValueError(f"unknown retrieval mode {mode!r}")
        return [[self.chunks[i] for i in row[:k]] for row in ranked]

    def save(self, folder: Path) -> None:
        """FAISS index, chunk table and BM25 index on disk; `load` gives back an identical index."""
        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.dense, str(folder / "dense.faiss.tmp"))
        (folder / "dense.faiss.tmp").replace(folder / "dense.faiss")
        rows = [{"key": i, "id": c.id, "doc_id": c.doc_id, "title": c.title, "text": c.text}
                for i, c in sorted(self.chunks.items())]
        atomic_write_text(folder / "chunks.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        self.bm25.save(str(folder / "bm25"), show_progress=False)

    @classmethod
    def load(cls, folder: Path, embed: EmbedFn, rrf_k: int = 60) -> HybridIndex:
        index = cls(embed, rrf_k)
        index.dense = faiss.read_index(str(folder / "dense.faiss"))
        for line in (folder / "chunks.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            index.chunks[row["key"]] = Chunk(row["id"], row["doc_id"], row["title"], row["text"])
        index.next_id = max(index.chunks, default=-1) + 1
        index.bm25 = bm25s.BM25.load(str(folder / "bm25"), show_progress=False)
        index.bm25_ids = sorted(index.chunks)
        return index


def nearest(queries: np.ndarray, pool: np.ndarray, k: int) -> list[list[int]]:
    """Indices of the k most similar pool vectors per query (cosine on unit vectors), best first."""
    similarity = queries @ pool.T
    order = np.argsort(-similarity, axis=1, kind="stable")
    return [row[: min(k, pool.shape[0])].tolist() for row in order]
