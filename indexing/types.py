"""Domain types shared by ingestion, the vector store and retrieval (plain data, no behaviour)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

# chunk point ids are uuid5(document_id, index): re-ingesting the same bytes writes the same ids
CHUNK_NAMESPACE = uuid.UUID("6f1b8c3e-2a4d-5e6f-8a9b-0c1d2e3f4a5b")


def chunk_id(document_id: str, index: int) -> str:
    return str(uuid.uuid5(CHUNK_NAMESPACE, f"{document_id}:{index}"))


@dataclass(frozen=True)
class SparseVector:
    """A lexical vector: term ids (hashed, non-negative int32) and their weights, sorted by index."""

    indices: list[int]
    values: list[float]


@dataclass(frozen=True)
class Chunk:
    """One indexed passage of a document."""

    id: str  # chunk_id(document_id, index)
    document_id: str  # sha256 hex of the document's bytes
    index: int  # position in the document, 0-based
    text: str
    filename: str
    page: int | None = None  # 1-based page for paged formats (PDF), else None
    heading: str | None = None  # the nearest heading path ("Leave > Annual leave"), when the format has them
    language: str = "und"  # "ko", "en", ... (detected per chunk)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoredChunk:
    chunk: Chunk
    score: float  # the fused score (higher is better)
    dense_score: float | None = None  # cosine similarity when the dense retriever found it
    sparse_score: float | None = None  # BM25-style score when the sparse retriever found it
    dense_rank: int | None = None  # 1-based rank in each retriever's list
    sparse_rank: int | None = None


@dataclass(frozen=True)
class Fusion:
    """How the dense and the sparse candidate lists become one ranking (:func:`indexing.vector_store.fuse`).

    ``"relative"``: each score divided by the best score of its list, then ``w_dense * d + w_sparse * s``;
    ``"rrf"``: weighted reciprocal rank fusion, ``sum(w / (rrf_k + rank))``.
    """

    weights: tuple[float, float] = (0.5, 0.5)  # dense, sparse
    method: Literal["relative", "rrf"] = "relative"
    rrf_k: int = 10
