"""Where chunks live: a :class:`VectorStore` seam and its two Qdrant implementations.

* :class:`EdgeVectorStore` (the embedded default): qdrant-edge, Qdrant's own engine in-process, one shard per
  collection under ``HEARTH_DATA_DIR/qdrant/<collection>``.
* :class:`QdrantServerStore`: a Qdrant server through qdrant-client (``HEARTH_QDRANT__URL``, compose).

Every point holds a dense vector ``"dense"`` (cosine) and a sparse one ``"sparse"`` (BM25 term weights, the
engine applies IDF), with the chunk's fields and a ``state`` in its payload. A document's points are written
``pending`` and become visible to search only when :meth:`VectorStore.publish` flips them to ``live`` with one
filtered set-payload, so a document is searchable completely or not at all; :meth:`VectorStore.delete_pending`
removes what a crash left behind. Deleting a document is one filtered delete (an indexed ``document_id``).

Search fetches the dense and the sparse top-``candidates`` (live points only) in one batched query and fuses
them client-side (:func:`fuse`): the engine's own fusion returns only the fused score, and the relevance test
(:mod:`indexing.retrieval`) needs each retriever's raw score and rank. Two methods (:class:`Fusion`):

* ``relative`` (the default): each score over the best score of its list, so a cosine and a BM25 score
  become comparable shares of "as good as this query's best match", then ``w_dense * d + w_sparse * s``. A
  point one list did not return gets that list's lowest share. It keeps how far apart the candidates are,
  which ranks cannot: on SciFact train (MiniLM) 0.736 against 0.729 for the best weighted RRF, and on
  AutoRAG-ko it equals BM25 alone for any dense weight up to 0.4 (e5's cosines sit close together, so their
  shares do too). Min-max, z-score and distribution-based (mean +- 3 sd) normalisation scored lower.
* ``rrf``: weighted reciprocal rank fusion, ``sum(w / (rrf_k + rank))``.

Why qdrant-edge and not qdrant-client's local mode (``QdrantClient(path=...)``), measured here on 2 shared
cores (bench/results/retrieval.json): local mode keeps every vector in Python, persists through SQLite
(290-770 points/s in batches of 256 depending on load; the issue measured 160/s one point at a time),
searches by brute force in numpy (10 ms at only 1k points; the issue measured about 250 ms at 100k) and
ignores payload indexes. qdrant-edge is the server's Rust segment code in-process: 100k synthetic chunks
(384-d dense + ~60-term sparse) upsert at 4k-11k points/s, and a hybrid search (dense + sparse top-40, live
filter, payloads) takes p50 12 ms / p95 17 ms with no index build (dense brute force ~11 ms, sparse ~1 ms).
:meth:`EdgeVectorStore.optimize` builds HNSW, but took 17 minutes for 100k points on the busy cores, so
nothing calls it inline. Both allow one process per path: edge locks each shard's WAL (a second open fails
with ``WouldBlock``), so in the embedded profile the API process owns the store and workers must reach it
through the API, or the deployment uses a Qdrant server.

Durability (edge): every update is appended to the shard's WAL before it returns, so an acknowledged write
survives a crash (replayed on load); :meth:`EdgeVectorStore.close` also flushes the segments. All methods
block; callers run them in a thread. Both stores are safe to share between threads.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

from configs.settings import QdrantSettings
from indexing.errors import VectorCollectionMissing, VectorStoreError
from indexing.types import Chunk, Fusion, ScoredChunk, SparseVector

if TYPE_CHECKING:
    import qdrant_edge
    from qdrant_client import QdrantClient

DENSE = "dense"
SPARSE = "sparse"
PENDING = "pending"
LIVE = "live"
UPSERT_BATCH = 256
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")

T = TypeVar("T")


class VectorStore(Protocol):
    """Collections of chunks with a dense and a sparse vector each. Blocking; thread-safe."""

    def ensure_collection(self, name: str, dense_dim: int) -> None:
        """Create the collection if missing; raise VectorStoreError if it exists with another dimension."""
        ...

    def drop_collection(self, name: str) -> None:
        """Remove the collection and its points (no error when missing)."""
        ...

    def upsert(
        self, name: str, chunks: Sequence[Chunk], dense: np.ndarray, sparse: Sequence[SparseVector]
    ) -> None:
        """Write the chunks as ``pending`` points (ids are the chunk ids, so a retry overwrites)."""
        ...

    def publish(self, name: str, document_id: str) -> None:
        """Make the document's points visible to search (one filtered set-payload)."""
        ...

    def delete_document(self, name: str, document_id: str) -> None:
        """Delete every point of the document (one filtered delete)."""
        ...

    def delete_pending(self, name: str) -> int:
        """Delete the points never published (crash recovery); returns how many there were."""
        ...

    def search(
        self,
        name: str,
        dense_query: np.ndarray | None,
        sparse_query: SparseVector | None,
        limit: int,
        candidates: int,
        fusion: Fusion,
    ) -> list[ScoredChunk]:
        """The best ``limit`` live chunks: the dense and the sparse top-``candidates`` fused by ``fusion``."""
        ...

    def count(self, name: str, document_id: str | None = None) -> int:
        """Points in the collection (or of one document), pending ones included."""
        ...

    def close(self) -> None: ...


def make_vector_store(settings: QdrantSettings, data_dir: Path) -> VectorStore:
    """A server store when ``settings.url`` is set, else the embedded store under ``data_dir/qdrant``."""
    if settings.url:
        return QdrantServerStore(settings)
    return EdgeVectorStore(data_dir / "qdrant")


# ---------------------------------------------------------------------------------------------------------
# shared helpers


def chunk_payload(chunk: Chunk, state: str = PENDING) -> dict[str, Any]:
    return {
        "id": chunk.id,
        "document_id": chunk.document_id,
        "index": chunk.index,
        "text": chunk.text,
        "filename": chunk.filename,
        "page": chunk.page,
        "heading": chunk.heading,
        "language": chunk.language,
        "extra": dict(chunk.extra),
        "state": state,
    }


def chunk_from_payload(payload: Mapping[str, Any]) -> Chunk:
    return Chunk(
        id=str(payload["id"]),
        document_id=str(payload["document_id"]),
        index=int(payload["index"]),
        text=str(payload["text"]),
        filename=str(payload["filename"]),
        page=payload.get("page"),
        heading=payload.get("heading"),
        language=str(payload.get("language") or "und"),
        extra=dict(payload.get("extra") or {}),
    )


def fuse(
    dense_hits: Sequence[tuple[str, float, Mapping[str, Any]]],
    sparse_hits: Sequence[tuple[str, float, Mapping[str, Any]]],
    fusion: Fusion,
    limit: int,
) -> list[ScoredChunk]:
    """One ranking of two ranked lists of (point id, raw score, payload), by ``fusion`` (see the module
    docstring); each hit keeps its raw scores and ranks."""
    entries: dict[str, dict[str, Any]] = {}
    parts = []
    for which, hits, weight in (
        ("dense", dense_hits, fusion.weights[0]),
        ("sparse", sparse_hits, fusion.weights[1]),
    ):
        for rank, (point_id, score, payload) in enumerate(hits, start=1):
            entry = entries.setdefault(point_id, {"payload": payload})
            entry[f"{which}_score"] = score
            entry[f"{which}_rank"] = rank
        if fusion.method == "rrf":
            parts.append(({pid: weight / (fusion.rrf_k + r) for r, (pid, _, _) in enumerate(hits, 1)}, 0.0))
        else:
            parts.append(_relative(hits, weight))
    for point_id, entry in entries.items():
        entry["score"] = sum(part.get(point_id, floor) for part, floor in parts)
    # ties (equal fused score) go to the better dense rank, then the better sparse rank
    ordered = sorted(
        entries.values(),
        key=lambda e: (-e["score"], e.get("dense_rank") or 1 << 30, e.get("sparse_rank") or 1 << 30),
    )
    return [
        ScoredChunk(
            chunk=chunk_from_payload(e["payload"]),
            score=float(e["score"]),
            dense_score=e.get("dense_score"),
            sparse_score=e.get("sparse_score"),
            dense_rank=e.get("dense_rank"),
            sparse_rank=e.get("sparse_rank"),
        )
        for e in ordered[:limit]
    ]


def _relative(
    hits: Sequence[tuple[str, float, Mapping[str, Any]]], weight: float
) -> tuple[dict[str, float], float]:
    """Each hit's weighted score over the list's best, and the floor for a point the list did not return:
    the lowest of them, as all that is known of such a point is that it ranked below every candidate."""
    best = hits[0][1] if hits else 0.0
    if best <= 0:  # no positive evidence (an all-negative cosine list): the list cannot rank anything
        return {}, 0.0
    part = {point_id: weight * score / best for point_id, score, _ in hits}
    return part, min(part.values())


def _check_upsert(chunks: Sequence[Chunk], dense: np.ndarray, sparse: Sequence[SparseVector]) -> np.ndarray:
    dense = np.asarray(dense, dtype=np.float32)
    if not chunks and dense.size == 0 and not sparse:
        return dense.reshape(0, 0)
    if dense.ndim != 2 or dense.shape[0] != len(chunks) or len(sparse) != len(chunks):
        raise ValueError(
            f"upsert needs one dense row and one sparse vector per chunk: {len(chunks)} chunks, "
            f"dense {dense.shape}, {len(sparse)} sparse"
        )
    return dense


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"invalid collection name {name!r}: use letters, digits, '_', '-', '.'")
    return name


# ---------------------------------------------------------------------------------------------------------
# qdrant-edge


class EdgeVectorStore:
    """The embedded store: one qdrant-edge shard per collection under ``path/<name>``, opened on first use."""

    def __init__(self, path: str | Path) -> None:
        import qdrant_edge

        self._qe = qdrant_edge
        self._path = Path(path)
        self._shards: dict[str, qdrant_edge.EdgeShard] = {}
        self._lock = threading.RLock()  # guards the shard table and serialises writes
        self._closed = False
        try:
            self._path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VectorStoreError(f"cannot create the vector store folder {self._path}: {exc}") from exc

    # the shard table ------------------------------------------------------------------------------------

    def _shard_dir(self, name: str) -> Path:
        return self._path / _check_name(name)

    def _shard(self, name: str) -> qdrant_edge.EdgeShard:
        with self._lock:
            if self._closed:
                raise VectorStoreError("the vector store is closed")
            shard = self._shards.get(name)
            if shard is None:
                folder = self._shard_dir(name)
                if not (folder / "edge_config.json").is_file():
                    raise VectorCollectionMissing(name)
                shard = self._call(lambda: self._qe.EdgeShard.load(str(folder)), f"open '{name}'")
                self._shards[name] = shard
            return shard

    @staticmethod
    def _call(fn: Callable[[], T], what: str) -> T:
        try:
            return fn()
        except VectorStoreError:
            raise
        except Exception as exc:  # the engine raises bare RuntimeError/ValueError
            raise VectorStoreError(f"vector store: cannot {what}: {exc}") from exc

    def _update(self, name: str, operation: qdrant_edge.UpdateOperation, what: str) -> None:
        shard = self._shard(name)
        with self._lock:
            self._call(lambda: shard.update(operation), what)

    # VectorStore --------------------------------------------------------------------------------------

    def ensure_collection(self, name: str, dense_dim: int) -> None:
        qe = self._qe
        with self._lock:
            folder = self._shard_dir(name)
            if (folder / "edge_config.json").is_file():
                self._shard(name)  # opened now, so a damaged shard fails here
                size = self._dense_size(folder)
                if size is not None and size != dense_dim:
                    raise VectorStoreError(
                        f"the vector collection '{name}' holds {size}-dimensional vectors, not {dense_dim}"
                    )
                return
            config = qe.EdgeConfig(
                vectors={DENSE: qe.EdgeVectorParams(size=dense_dim, distance=qe.Distance.Cosine)},
                sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            )
            shard = self._call(lambda: qe.EdgeShard.create(str(folder), config), f"create '{name}'")
            for field in ("document_id", "state"):
                op = qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword)
                self._call(partial(shard.update, op), f"index '{field}' of '{name}'")
            self._call(shard.flush, f"flush '{name}'")
            self._shards[name] = shard

    @staticmethod
    def _dense_size(folder: Path) -> int | None:
        import json

        try:
            config = json.loads((folder / "edge_config.json").read_text(encoding="utf-8"))
            return int(config["vectors"][DENSE]["size"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def drop_collection(self, name: str) -> None:
        import shutil

        with self._lock:
            shard = self._shards.pop(name, None)
            if shard is not None:
                self._call(shard.close, f"close '{name}'")
            folder = self._shard_dir(name)
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=False)

    def upsert(
        self, name: str, chunks: Sequence[Chunk], dense: np.ndarray, sparse: Sequence[SparseVector]
    ) -> None:
        qe = self._qe
        rows = _check_upsert(chunks, dense, sparse).tolist()
        for lo in range(0, len(chunks), UPSERT_BATCH):
            points = [
                qe.Point(
                    uuid.UUID(chunk.id),
                    {DENSE: row, SPARSE: qe.SparseVector(sv.indices, sv.values)},
                    chunk_payload(chunk),
                )
                for chunk, row, sv in zip(
                    chunks[lo : lo + UPSERT_BATCH],
                    rows[lo : lo + UPSERT_BATCH],
                    sparse[lo : lo + UPSERT_BATCH],
                    strict=True,
                )
            ]
            self._update(name, qe.UpdateOperation.upsert_points(points), f"upsert into '{name}'")

    def _match(self, key: str, value: str) -> qdrant_edge.Filter:
        qe = self._qe
        return qe.Filter(must=[qe.FieldCondition(key, match=qe.MatchValue(value))])

    def publish(self, name: str, document_id: str) -> None:
        op = self._qe.UpdateOperation.set_payload_by_filter(
            self._match("document_id", document_id), {"state": LIVE}
        )
        self._update(name, op, f"publish in '{name}'")

    def delete_document(self, name: str, document_id: str) -> None:
        op = self._qe.UpdateOperation.delete_points_by_filter(self._match("document_id", document_id))
        self._update(name, op, f"delete from '{name}'")

    def delete_pending(self, name: str) -> int:
        pending = self._match("state", PENDING)
        with self._lock:
            shard = self._shard(name)
            n = self._call(lambda: shard.count(self._qe.CountRequest(exact=True, filter=pending)), "count")
            if n:
                op = self._qe.UpdateOperation.delete_points_by_filter(pending)
                self._call(lambda: shard.update(op), f"delete pending from '{name}'")
        return int(n)

    def search(
        self,
        name: str,
        dense_query: np.ndarray | None,
        sparse_query: SparseVector | None,
        limit: int,
        candidates: int,
        fusion: Fusion,
    ) -> list[ScoredChunk]:
        qe = self._qe
        shard = self._shard(name)
        live = self._match("state", LIVE)
        n = max(candidates, limit)
        requests = []
        if dense_query is not None:
            vector = np.asarray(dense_query, dtype=np.float32).ravel().tolist()
            requests.append(
                qe.QueryRequest(
                    limit=n, query=qe.Query.Nearest(vector, using=DENSE), filter=live, with_payload=True
                )
            )
        if sparse_query is not None and sparse_query.indices:
            sv = qe.SparseVector(sparse_query.indices, sparse_query.values)
            requests.append(
                qe.QueryRequest(
                    limit=n, query=qe.Query.Nearest(sv, using=SPARSE), filter=live, with_payload=True
                )
            )
        if not requests:
            return []
        results = self._call(lambda: shard.query_batch(qe.QueryBatchRequest(requests)), f"search '{name}'")
        lists = [[(str(p.id), float(p.score), p.payload or {}) for p in hits] for hits in results]
        dense_hits = lists.pop(0) if dense_query is not None else []
        sparse_hits = lists.pop(0) if lists else []
        return fuse(dense_hits, sparse_hits, fusion, limit)

    def count(self, name: str, document_id: str | None = None) -> int:
        shard = self._shard(name)
        flt = self._match("document_id", document_id) if document_id is not None else None
        return int(self._call(lambda: shard.count(self._qe.CountRequest(exact=True, filter=flt)), "count"))

    def optimize(self, name: str) -> bool:
        """Merge segments and build the HNSW index now (blocking); True if anything changed."""
        shard = self._shard(name)
        with self._lock:
            return bool(self._call(shard.optimize, f"optimize '{name}'"))

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            shards, self._shards = self._shards, {}
        for name, shard in shards.items():
            self._call(shard.flush, f"flush '{name}'")
            self._call(shard.close, f"close '{name}'")


# ---------------------------------------------------------------------------------------------------------
# Qdrant server (qdrant-client)


class QdrantServerStore:
    """A Qdrant server; collections are named ``<prefix>_<name>``.

    ``client`` replaces the one built from ``settings`` (tests pass ``QdrantClient(":memory:")``, which runs
    the same calls through qdrant-client's local mode).
    """

    def __init__(self, settings: QdrantSettings, *, client: QdrantClient | None = None) -> None:
        from qdrant_client import QdrantClient, models

        self._models = models
        self._prefix = settings.prefix
        if client is None:
            if not settings.url:
                raise VectorStoreError("QdrantServerStore needs a server URL: set HEARTH_QDRANT__URL")
            client = QdrantClient(url=settings.url, api_key=settings.api_key, timeout=int(settings.timeout_s))
        self._client = client

    def _full(self, name: str) -> str:
        return f"{self._prefix}_{_check_name(name)}" if self._prefix else _check_name(name)

    def _call(self, fn: Callable[[], T], what: str, name: str | None = None) -> T:
        try:
            return fn()
        except VectorStoreError:
            raise
        except Exception as exc:
            if name is not None and _is_not_found(exc):
                raise VectorCollectionMissing(name) from exc
            raise VectorStoreError(f"vector store: cannot {what}: {exc}") from exc

    def _match(self, key: str, value: str) -> Any:
        m = self._models
        return m.Filter(must=[m.FieldCondition(key=key, match=m.MatchValue(value=value))])

    def ensure_collection(self, name: str, dense_dim: int) -> None:
        m = self._models
        full = self._full(name)
        if self._call(lambda: self._client.collection_exists(full), "check a collection"):
            info = self._call(lambda: self._client.get_collection(full), "read a collection", name)
            vectors = info.config.params.vectors
            params = vectors.get(DENSE) if isinstance(vectors, dict) else None
            if params is not None and params.size != dense_dim:
                raise VectorStoreError(
                    f"the vector collection '{name}' holds {params.size}-dimensional vectors, not {dense_dim}"
                )
            return
        self._call(
            lambda: self._client.create_collection(
                full,
                vectors_config={DENSE: m.VectorParams(size=dense_dim, distance=m.Distance.COSINE)},
                sparse_vectors_config={SPARSE: m.SparseVectorParams(modifier=m.Modifier.IDF)},
            ),
            f"create '{name}'",
        )
        for field in ("document_id", "state"):
            index = partial(self._client.create_payload_index, full, field, m.PayloadSchemaType.KEYWORD)
            self._call(index, f"index '{field}' of '{name}'")

    def drop_collection(self, name: str) -> None:
        self._call(lambda: self._client.delete_collection(self._full(name)), f"drop '{name}'")

    def upsert(
        self, name: str, chunks: Sequence[Chunk], dense: np.ndarray, sparse: Sequence[SparseVector]
    ) -> None:
        m = self._models
        rows = _check_upsert(chunks, dense, sparse).tolist()
        full = self._full(name)
        for lo in range(0, len(chunks), UPSERT_BATCH):
            points = [
                m.PointStruct(
                    id=chunk.id,
                    vector={DENSE: row, SPARSE: m.SparseVector(indices=sv.indices, values=sv.values)},
                    payload=chunk_payload(chunk),
                )
                for chunk, row, sv in zip(
                    chunks[lo : lo + UPSERT_BATCH],
                    rows[lo : lo + UPSERT_BATCH],
                    sparse[lo : lo + UPSERT_BATCH],
                    strict=True,
                )
            ]
            self._call(partial(self._client.upsert, full, points, wait=True), "upsert", name)

    def publish(self, name: str, document_id: str) -> None:
        flt = self._match("document_id", document_id)
        self._call(
            lambda: self._client.set_payload(self._full(name), {"state": LIVE}, points=flt, wait=True),
            "publish",
            name,
        )

    def delete_document(self, name: str, document_id: str) -> None:
        flt = self._match("document_id", document_id)
        self._call(lambda: self._client.delete(self._full(name), flt, wait=True), "delete", name)

    def delete_pending(self, name: str) -> int:
        full = self._full(name)
        flt = self._match("state", PENDING)
        n = self._call(lambda: self._client.count(full, count_filter=flt, exact=True).count, "count", name)
        if n:
            self._call(lambda: self._client.delete(full, flt, wait=True), "delete pending", name)
        return int(n)

    def search(
        self,
        name: str,
        dense_query: np.ndarray | None,
        sparse_query: SparseVector | None,
        limit: int,
        candidates: int,
        fusion: Fusion,
    ) -> list[ScoredChunk]:
        m = self._models
        live = self._match("state", LIVE)
        n = max(candidates, limit)
        requests = []
        if dense_query is not None:
            vector = np.asarray(dense_query, dtype=np.float32).ravel().tolist()
            requests.append(
                m.QueryRequest(query=vector, using=DENSE, filter=live, limit=n, with_payload=True)
            )
        if sparse_query is not None and sparse_query.indices:
            sv = m.SparseVector(indices=sparse_query.indices, values=sparse_query.values)
            requests.append(m.QueryRequest(query=sv, using=SPARSE, filter=live, limit=n, with_payload=True))
        if not requests:
            return []
        responses = self._call(
            lambda: self._client.query_batch_points(self._full(name), requests), "search", name
        )
        lists = [[(str(p.id), float(p.score), p.payload or {}) for p in r.points] for r in responses]
        dense_hits = lists.pop(0) if dense_query is not None else []
        sparse_hits = lists.pop(0) if lists else []
        return fuse(dense_hits, sparse_hits, fusion, limit)

    def count(self, name: str, document_id: str | None = None) -> int:
        flt = self._match("document_id", document_id) if document_id is not None else None
        result = self._call(
            lambda: self._client.count(self._full(name), count_filter=flt, exact=True), "count", name
        )
        return int(result.count)

    def close(self) -> None:
        self._client.close()


def _is_not_found(exc: Exception) -> bool:
    status = getattr(exc, "status_code", None)
    return status == 404 or "not found" in str(exc).lower()
