"""Hybrid retrieval: dense + BM25-style sparse, fused by weighted reciprocal rank fusion.

The fusion weights follow the query's language (``RetrievalSettings.fusion_weights[detect_language(query)]``,
falling back to ``"default"``). Measured by bench/retrieval.py (nDCG@10, rrf_k=10):

* AutoRAG-ko, multilingual-e5-small: sparse (Kiwi morphemes) 0.949, dense 0.780, (1, 1) 0.872,
  (0.1, 1) 0.949. Korean BM25 is far stronger than the small dense model, so dense only breaks ties.
* SciFact, all-MiniLM-L6-v2: sparse 0.692, dense 0.645, (1, 1) 0.717, (0.7, 1) 0.722.

:meth:`Retriever.is_relevant` decides whether a hit supports an answer (RAG's ``found``): a hit counts when
its dense cosine similarity reaches ``min_dense_score``, or when the sparse retriever ranked it in its top
``SPARSE_TOP_RANKS`` with a raw BM25 score (IDF included) of at least ``min_sparse_score``. Measured over the
top 5 hits with the fused weights above; "out of domain" is the other set's questions plus 22 generic
English and Korean ones ("What is the capital of France?", "김치찌개 맛있게 끓이는 법 알려줘"):

* e5 on AutoRAG-ko: the best cosine is >= 0.857 for every in-domain question (median 0.895) and <= 0.854 for
  generic Korean ones; the best sparse score is >= 12.6 in domain, <= 10.8 for generic questions. With
  0.86 / 15: in-domain found 100%, out-of-domain 0.9%, generic 0%.
* MiniLM on SciFact: in-domain cosines are lower and spread (5th percentile 0.38), generic <= 0.36; with
  0.45 / 15: in-domain 95%, out-of-domain 0.7%, generic 0%.

So ``min_sparse_score`` = 15 holds for both sets, but ``min_dense_score`` belongs to the embedder (e5's
cosines sit high and close together). BM25 scores grow with the collection's size (IDF): on a collection
of a few dozen chunks the sparse rule rarely fires and the dense one decides.
"""

from __future__ import annotations

from configs.settings import RetrievalSettings
from indexing.embedders import Embedder
from indexing.sparse import SparseEncoder, detect_language
from indexing.types import ScoredChunk
from indexing.vector_store import VectorStore

SPARSE_TOP_RANKS = 3


class Retriever:
    """Query text in, fused live chunks out. Blocking (the caller runs it in a thread); thread-safe."""

    def __init__(
        self, store: VectorStore, embedder: Embedder, sparse: SparseEncoder, settings: RetrievalSettings
    ) -> None:
        self._store = store
        self._embedder = embedder
        self._sparse = sparse
        self._settings = settings

    def weights_for(self, query: str) -> tuple[float, float]:
        weights = self._settings.fusion_weights
        return weights.get(detect_language(query)) or weights.get("default") or (1.0, 1.0)

    def retrieve(self, collection: str, query: str, top_k: int | None = None) -> list[ScoredChunk]:
        """The ``top_k`` (default ``settings.top_k``) best live chunks of ``collection`` for ``query``."""
        if not query.strip():
            return []
        settings = self._settings
        dense = self._embedder.embed([query], "query")[0]
        sparse = self._sparse.encode_query(query)
        hits = self._store.search(
            collection,
            dense,
            sparse,
            limit=top_k or settings.top_k,
            candidates=settings.candidates,
            weights=self.weights_for(query),
            rrf_k=settings.rrf_k,
        )
        return hits

    def is_relevant(self, hit: ScoredChunk) -> bool:
        """Whether ``hit`` clears the relevance threshold that decides RAG's ``found``."""
        settings = self._settings
        if hit.dense_score is not None and hit.dense_score >= settings.min_dense_score:
            return True
        if hit.sparse_score is None or hit.sparse_rank is None or hit.sparse_rank > SPARSE_TOP_RANKS:
            return False
        return hit.sparse_score >= settings.min_sparse_score
