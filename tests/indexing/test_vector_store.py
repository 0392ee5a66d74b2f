"""Both vector stores through the same contract: qdrant-edge on disk, and QdrantServerStore over
qdrant-client's in-process local mode (no Qdrant server binary here; the class takes an injected client)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

from configs.settings import QdrantSettings
from indexing.errors import VectorCollectionMissing, VectorStoreError
from indexing.sparse import SparseEncoder
from indexing.types import Chunk, Fusion, SparseVector, chunk_id
from indexing.vector_store import EdgeVectorStore, QdrantServerStore, VectorStore, fuse, make_vector_store

DIM = 8
RRF = Fusion((1.0, 1.0), "rrf", 60)
# qdrant-client local mode ignores payload indexes and says so; the server store still creates them
pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect")


def _chunks(document_id: str, texts: list[str]) -> list[Chunk]:
    return [
        Chunk(
            id=chunk_id(document_id, i),
            document_id=document_id,
            index=i,
            text=t,
            filename=f"{document_id}.txt",
        )
        for i, t in enumerate(texts)
    ]


def _dense(n: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _write(
    store: VectorStore, document_id: str, texts: list[str], seed: int, *, publish: bool = True
) -> np.ndarray:
    chunks = _chunks(document_id, texts)
    dense = _dense(len(chunks), seed)
    store.upsert("docs", chunks, dense, SparseEncoder().encode_documents(texts))
    if publish:
        store.publish("docs", document_id)
    return dense


@pytest.fixture(params=["edge", "server"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    if request.param == "edge":
        made: VectorStore = EdgeVectorStore(tmp_path / "qdrant")
    else:
        made = QdrantServerStore(QdrantSettings(), client=QdrantClient(":memory:"))
    made.ensure_collection("docs", DIM)
    yield made
    made.close()


def test_pending_points_are_never_returned_until_published(store: VectorStore) -> None:
    dense = _write(store, "doc-a", ["alpha tax rules", "beta leave policy"], seed=1, publish=False)
    assert store.count("docs") == 2
    assert store.search("docs", dense[0], None, 5, 10, RRF) == []
    store.publish("docs", "doc-a")
    hits = store.search("docs", dense[0], None, 5, 10, RRF)
    assert [h.chunk.index for h in hits][:1] == [0]
    assert hits[0].dense_rank == 1 and hits[0].dense_score == pytest.approx(1.0, abs=1e-4)
    assert hits[0].chunk == _chunks("doc-a", ["alpha tax rules", "beta leave policy"])[0]


def test_hybrid_search_keeps_each_retrievers_score_and_rank(store: VectorStore) -> None:
    dense = _write(store, "doc-a", ["alpha tax rules", "beta leave policy", "gamma expense claims"], seed=2)
    sparse = SparseEncoder().encode_query("leave policy")
    hits = store.search("docs", dense[0], sparse, 3, 10, RRF)
    by_index = {h.chunk.index: h for h in hits}
    assert (
        by_index[1].sparse_rank == 1 and by_index[1].sparse_score is not None and by_index[1].sparse_score > 0
    )
    assert by_index[0].dense_rank == 1 and by_index[0].sparse_rank is None
    # weighting the sparse list decides the winner
    top = store.search("docs", dense[0], sparse, 1, 10, Fusion((0.1, 1.0), "rrf", 60))[0]
    assert top.chunk.index == 1


def test_filtered_delete_removes_exactly_one_document(store: VectorStore) -> None:
    _write(store, "doc-a", ["one", "two", "three"], seed=3)
    _write(store, "doc-b", ["four", "five"], seed=4)
    store.delete_document("docs", "doc-a")
    assert store.count("docs", "doc-a") == 0
    assert store.count("docs", "doc-b") == 2
    assert store.count("docs") == 2


def test_delete_pending_recovers_from_a_crash_midway(store: VectorStore) -> None:
    _write(store, "doc-a", ["kept"], seed=5)
    _write(store, "doc-b", ["half", "written"], seed=6, publish=False)
    assert store.delete_pending("docs") == 2
    assert store.count("docs") == 1 and store.count("docs", "doc-a") == 1
    assert store.delete_pending("docs") == 0


def test_reupsert_of_the_same_chunks_overwrites(store: VectorStore) -> None:
    _write(store, "doc-a", ["same", "bytes"], seed=7)
    _write(store, "doc-a", ["same", "bytes"], seed=7)
    assert store.count("docs") == 2
    store.upsert("docs", [], np.zeros((0, DIM), np.float32), [])  # an empty document writes nothing
    assert store.count("docs") == 2
    with pytest.raises(ValueError):
        store.upsert("docs", _chunks("doc-c", ["one"]), np.zeros((2, DIM), np.float32), [])


def test_dimension_mismatch_and_missing_collections_are_errors(store: VectorStore) -> None:
    store.ensure_collection("docs", DIM)  # idempotent
    with pytest.raises(VectorStoreError):
        store.ensure_collection("docs", DIM + 1)
    with pytest.raises(VectorCollectionMissing):
        store.count("nope")
    store.drop_collection("docs")
    with pytest.raises(VectorCollectionMissing):
        store.count("docs")


def test_edge_store_persists_across_reopen(tmp_path: Path) -> None:
    store = EdgeVectorStore(tmp_path / "qdrant")
    store.ensure_collection("docs", DIM)
    dense = _write(store, "doc-a", ["persistent tax rules"] * 3, seed=8)
    store.close()
    reopened = make_vector_store(QdrantSettings(), tmp_path)
    try:
        assert reopened.count("docs") == 3
        hits = reopened.search("docs", dense[1], None, 3, 10, RRF)
        assert len(hits) == 3 and hits[0].chunk.index == 1
        lexical = reopened.search("docs", None, SparseEncoder().encode_query("tax"), 3, 10, RRF)
        assert len(lexical) == 3 and all(h.sparse_score for h in lexical)
    finally:
        reopened.close()


def test_edge_store_batches_large_upserts(tmp_path: Path) -> None:
    store = EdgeVectorStore(tmp_path / "qdrant")
    store.ensure_collection("docs", DIM)
    n = 1000
    texts = [f"passage {i}" for i in range(n)]
    _write(store, "big", texts, seed=9)
    assert store.count("docs", "big") == n
    store.delete_document("docs", "big")
    assert store.count("docs") == 0
    store.close()


def test_weighted_rrf() -> None:
    payload = {"id": "x", "document_id": "d", "index": 0, "text": "t", "filename": "f"}
    a, b = {**payload, "index": 0}, {**payload, "index": 1}
    dense = [("a", 0.9, a), ("b", 0.8, b)]
    sparse = [("b", 12.0, b)]
    fused = fuse(dense, sparse, RRF, 5)
    assert [h.chunk.index for h in fused] == [1, 0]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)
    assert fused[0].sparse_score == 12.0 and fused[1].sparse_rank is None
    assert [h.chunk.index for h in fuse(dense, sparse, Fusion((1.0, 0.0), "rrf", 60), 5)] == [0, 1]
    assert fuse(dense, [], RRF, 1)[0].sparse_score is None
    assert fuse([], [], RRF, 5) == []


def test_relative_fusion_weighs_each_score_against_its_lists_best() -> None:
    payload = {"id": "x", "document_id": "d", "filename": "f", "text": "t"}
    a, b, c = ({**payload, "index": i} for i in range(3))
    dense = [("a", 0.8, a), ("b", 0.6, b), ("c", 0.4, c)]
    sparse = [("c", 20.0, c), ("b", 10.0, b)]
    fused = fuse(dense, sparse, Fusion((0.5, 0.5), "relative"), 5)
    by_index = {h.chunk.index: h.score for h in fused}
    # c: 0.5 * 0.4/0.8 + 0.5 * 20/20; b: 0.5 * 0.6/0.8 + 0.5 * 10/20; a is missing from the sparse list and
    # gets its lowest relative score (b's 0.5): 0.5 * 1 + 0.5 * 0.5
    assert by_index == pytest.approx({2: 0.75, 1: 0.625, 0: 0.75})
    assert [h.chunk.index for h in fused] == [0, 2, 1]  # a tie goes to the better dense rank
    assert fused[0].dense_score == 0.8 and fused[0].sparse_rank is None and fused[1].sparse_rank == 1
    # the weights decide between a strong dense and a strong sparse match
    assert fuse(dense, sparse, Fusion((0.2, 0.8), "relative"), 1)[0].chunk.index == 2
    assert fuse(dense, sparse, Fusion((0.8, 0.2), "relative"), 1)[0].chunk.index == 0
    # one list alone ranks as it is; a list with no positive score adds nothing
    assert [h.chunk.index for h in fuse(dense, [], Fusion(), 5)] == [0, 1, 2]
    negative = [("a", -0.1, a), ("b", -0.2, b)]
    assert [h.chunk.index for h in fuse(negative, sparse, Fusion(), 5)] == [2, 0, 1]
    assert fuse([], [], Fusion(), 5) == []
    assert SparseVector([], []).indices == []
