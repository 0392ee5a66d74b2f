"""Hybrid retrieval: dense + BM25-style sparse, fused by relative scores (see :mod:`indexing.vector_store`).

The fusion weights follow the query's language (``RetrievalSettings.fusion_weights[detect_language(query)]``,
falling back to ``"default"``); chosen with bench/retrieval.py on SciFact's train claims and AutoRAG-ko
(nDCG@10, candidates 40, BM25 k1=0.9):

* SciFact train, all-MiniLM-L6-v2: dense 0.660, sparse 0.697; relative fusion (0.5, 0.5) 0.739,
  (0.55, 0.45) 0.741, (0.6, 0.4) 0.740, (0.7, 0.3) 0.736; the best weighted RRF (k=10, (0.7, 1)) 0.721.
* AutoRAG-ko, multilingual-e5-small: sparse (Kiwi morphemes) 0.957, dense 0.780; relative fusion equals or
  beats sparse alone for dense weights 0.1-0.3 and stays >= 0.95 up to 0.5: Korean BM25 is far stronger
  than the small dense model, so (0.2, 0.8).

:meth:`Retriever.is_relevant` decides whether a hit supports an answer (RAG's ``found``): a hit counts when
its dense cosine similarity reaches ``min_dense_score``, or when the sparse retriever ranked it in its top
``SPARSE_TOP_RANKS`` with a raw BM25 score (IDF included) of at least ``min_sparse_score``. Measured over the
top 5 hits with the fused weights above; "out of domain" is the other set's questions plus 22 generic
English and Korean ones ("What is the capital of France?", "김치찌개 맛있게 끓이는 법 알려줘"):

* e5 on AutoRAG-ko: the best cosine is >= 0.857 for every in-domain question (median 0.895) and <= 0.854 for
  generic Korean ones; the best sparse score is >= 12.6 in domain, <= 10.8 for generic questions. With
  0.86 / 15: in-domain found 100%, out-of-domain 0.9%, generic 0%.
* MiniLM on SciFact (train claims): in-domain cosines are lower and spread. The top-1 dense passage's
  cosine is 0.50 / 0.65 / 0.82 (5th / 50th / 95th percentile) where it is a relevant one and 0.40 / 0.59
  / 0.75 where not (on-topic all the same), while the best cosine in the top 5 is <= 0.36 for generic
  questions and <= 0.47 for AutoRAG-ko's Korean ones. 0.45 keeps a 0.09 margin over the generic questions:
  with 0.45 / 15, in-domain found 96.7% (91.7% from the dense rule alone), out-of-domain 0.7%, generic 0%;
  0.41 lets 6.6% of out-of-domain questions through, 0.49 drops in-domain to 95.6%.

So ``min_sparse_score`` = 15 holds for both sets, but ``min_dense_score`` belongs to the embedder (e5's
cosines sit high and close together). BM25 scores grow with the collection's size (IDF): on a collection
of a few dozen chunks the sparse rule rarely fires and the dense one decides.
"""

from __future__ import annotations

from configs.settings import RetrievalSettings
from indexing.embedders import Embedder
from indexing.sparse import SparseEncoder
from indexing.types import Fusion, ScoredChunk
from indexing.vector_store import VectorStore
from inference.language import detect_language

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
        return weights.get(detect_language(query)) or weights.get("default") or (0.5, 0.5)

    def fusion_for(self, query: str) -> Fusion:
        settings = self._settings
        return Fusion(self.weights_for(query), settings.fusion, settings.rrf_k)

    def retrieve(
        self, collection: str, query: str, top_k: int | None = None, *, dense_only: bool = False
    ) -> list[ScoredChunk]:
        """The ``top_k`` (default ``settings.top_k``) best live chunks of ``collection`` for ``query``;
        ``dense_only``: ranked by the embedder alone (a question in another language than the documents,
        where the sparse side matches nothing but digits and Latin tokens)."""
        if not query.strip():
            return []
        settings = self._settings
        dense = self._embedder.embed([query], "query")[0]
        sparse = None if dense_only else self._sparse.encode_query(query)
        hits = self._store.search(
            collection,
            dense,
            sparse,
            limit=top_k or settings.top_k,
            candidates=settings.candidates,
            fusion=self.fusion_for(query),
        )
        return hits

    @property
    def min_dense_score(self) -> float:
        """The cosine similarity that makes a hit relevant, for this retriever's embedder."""
        return self._settings.dense_threshold(self._embedder.name)

    def is_relevant(self, hit: ScoredChunk, dense_margin: float = 0.0) -> bool:
        """Whether ``hit`` clears the relevance threshold that decides RAG's ``found``; ``dense_margin``
        lowers the dense threshold (the answer service does when a coverage check follows)."""
        if hit.dense_score is not None and hit.dense_score >= self.min_dense_score - dense_margin:
            return True
        if hit.sparse_score is None or hit.sparse_rank is None or hit.sparse_rank > SPARSE_TOP_RANKS:
            return False
        return hit.sparse_score >= self._settings.min_sparse_score
