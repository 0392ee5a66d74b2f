"""Hybrid retrieval with the real parts: multilingual-e5-small, Kiwi/Snowball sparse vectors, qdrant-edge."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from configs.settings import RetrievalSettings
from indexing.embedders import E5Embedder, SentenceTransformerEmbedder
from indexing.retrieval import Retriever
from indexing.sparse import SparseEncoder
from indexing.types import Chunk, ScoredChunk, chunk_id
from indexing.vector_store import EdgeVectorStore

PASSAGES = {
    "tax-medical": "의료비 세액공제: 총급여액의 3%를 초과하여 지출한 의료비의 15%를 "
    "세액공제 받을 수 있습니다. 난임시술비는 30%, 미숙아 의료비는 20%가 공제됩니다.",
    "tax-card": "신용카드 등 소득공제는 총급여액의 25%를 초과하는 사용액에 대해 "
    "신용카드 15%, 체크카드 30%의 공제율을 적용합니다.",
    "tax-rent": "월세 세액공제는 무주택 세대주가 국민주택규모 주택을 임차한 경우 "
    "월세액의 15~17%를 공제합니다.",
    "leave": "Annual leave: employees accrue 15 days of paid annual leave per year; unused days may be "
    "carried over for one year with the manager's approval.",
    "expenses": "Expense claims must be submitted within 30 days with itemised receipts; travel is "
    "reimbursed at economy fares.",
    "security": "Laptops must use full-disk encryption and lock after five minutes of inactivity; report a "
    "lost device to IT security immediately.",
    "holiday-ko": "회사 창립기념일은 매년 5월 10일이며 전 직원 유급휴일입니다.",
}
# thresholds measured by bench/retrieval.py (see indexing/retrieval.py)
SETTINGS = RetrievalSettings(
    min_dense_score={"multilingual-e5-small": 0.86, "all-minilm-l6-v2": 0.45}, min_sparse_score=15.0
)


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Retriever]:
    embedder = E5Embedder()
    sparse = SparseEncoder()
    store = EdgeVectorStore(Path(tmp_path_factory.mktemp("qdrant")))
    store.ensure_collection("docs", embedder.dimensions)
    names = list(PASSAGES)
    texts = [PASSAGES[n] for n in names]
    chunks = [
        Chunk(id=chunk_id(name, 0), document_id=name, index=0, text=text, filename=f"{name}.txt")
        for name, text in zip(names, texts, strict=True)
    ]
    store.upsert("docs", chunks, embedder.embed(texts, "passage"), sparse.encode_documents(texts))
    for name in names:
        store.publish("docs", name)
    yield Retriever(store, embedder, sparse, SETTINGS)
    store.close()


def _top(hits: list[ScoredChunk]) -> str:
    return hits[0].chunk.document_id


def test_korean_question_ranks_its_passage_first(retriever: Retriever) -> None:
    hits = retriever.retrieve("docs", "의료비 세액공제를 받으려면 얼마나 써야 하나요?")
    assert _top(hits) == "tax-medical"
    assert hits[0].dense_rank is not None and hits[0].sparse_rank == 1
    assert retriever.is_relevant(hits[0])


def test_english_question_ranks_its_passage_first(retriever: Retriever) -> None:
    hits = retriever.retrieve("docs", "How many days of annual leave do employees get?")
    assert _top(hits) == "leave"
    assert retriever.is_relevant(hits[0])


def test_top_k_limits_the_hits(retriever: Retriever) -> None:
    assert len(retriever.retrieve("docs", "laptop encryption", top_k=2)) == 2
    assert len(retriever.retrieve("docs", "laptop encryption")) == SETTINGS.top_k
    assert retriever.retrieve("docs", "   ") == []


@pytest.mark.parametrize("question", ["What is the capital of France?", "김치찌개 맛있게 끓이는 법 알려줘"])
def test_unrelated_question_finds_nothing_relevant(retriever: Retriever, question: str) -> None:
    hits = retriever.retrieve("docs", question)
    assert hits  # something always comes back ...
    assert not any(retriever.is_relevant(h) for h in hits)  # ... but none of it counts


def test_dense_only_ranks_by_the_embedder_alone(retriever: Retriever) -> None:
    """An English question on Korean passages shares only digits with them ("25" with the card passage's
    "25%"); dense-only retrieval has no sparse side."""
    question = "Does debit card spending above 25% of the salary count?"
    hybrid = retriever.retrieve("docs", question, top_k=8)
    dense = retriever.retrieve("docs", question, top_k=8, dense_only=True)
    assert all(hit.sparse_rank is None and hit.dense_rank is not None for hit in dense)
    assert [hit.dense_rank for hit in dense] == sorted(hit.dense_rank or 0 for hit in dense)
    assert any(hit.sparse_rank is not None for hit in hybrid)


def test_fusion_weights_follow_the_query_language(retriever: Retriever) -> None:
    weights = RetrievalSettings().fusion_weights
    assert retriever.weights_for("연말정산 의료비") == SETTINGS.fusion_weights["ko"] == weights["ko"]
    assert retriever.weights_for("annual leave") == SETTINGS.fusion_weights.get("en", weights["default"])


def test_is_relevant_rules() -> None:
    retriever = Retriever(EdgeVectorStore.__new__(EdgeVectorStore), E5Embedder(), SparseEncoder(), SETTINGS)
    chunk = Chunk(id="x", document_id="d", index=0, text="t", filename="f")
    assert retriever.is_relevant(ScoredChunk(chunk, 0.1, dense_score=0.9, dense_rank=1))
    assert not retriever.is_relevant(ScoredChunk(chunk, 0.1, dense_score=0.5, dense_rank=1))
    assert retriever.is_relevant(ScoredChunk(chunk, 0.1, sparse_score=50.0, sparse_rank=1))
    assert not retriever.is_relevant(ScoredChunk(chunk, 0.1, sparse_score=50.0, sparse_rank=9))
    assert not retriever.is_relevant(ScoredChunk(chunk, 0.1, sparse_score=0.5, sparse_rank=1))


def test_the_dense_threshold_follows_the_embedder() -> None:
    """Issue 3: one e5-tuned min_dense_score (0.86) made MiniLM collections (cosines 0.3-0.7) find nothing."""
    store = EdgeVectorStore.__new__(EdgeVectorStore)
    chunk = Chunk(id="x", document_id="d", index=0, text="t", filename="f")
    hit = ScoredChunk(chunk, 0.1, dense_score=0.6, dense_rank=1)
    e5 = Retriever(store, E5Embedder(), SparseEncoder(), SETTINGS)
    minilm = Retriever(
        store, SentenceTransformerEmbedder("/nowhere", "all-minilm-l6-v2"), SparseEncoder(), SETTINGS
    )
    other = Retriever(store, SentenceTransformerEmbedder("/nowhere", "my-model"), SparseEncoder(), SETTINGS)
    assert (e5.min_dense_score, minilm.min_dense_score, other.min_dense_score) == (0.86, 0.45, 0.86)
    assert minilm.is_relevant(hit) and not e5.is_relevant(hit) and not other.is_relevant(hit)
    # the shipped defaults carry a threshold for each bundled embedder
    defaults = RetrievalSettings().min_dense_score
    assert {"multilingual-e5-small", "all-minilm-l6-v2", "default"} <= set(defaults)
    assert defaults["all-minilm-l6-v2"] < defaults["multilingual-e5-small"]
    # one number still sets every embedder's threshold
    assert (
        RetrievalSettings.model_validate({"min_dense_score": 0.7}).dense_threshold("all-minilm-l6-v2") == 0.7
    )
