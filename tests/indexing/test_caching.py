"""The caches of the indexing services: embeddings of identical texts (a fake embedder, a real Redis) and the
keys of grounded answers (content version, question, history; never with a session)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pytest

from configs.settings import CONFIG_DIR, CacheSettings, RetrievalSettings
from indexing.answer_cache import AnswerCache
from indexing.assistants import AssistantSpec
from indexing.embedding_service import EmbeddingService
from inference.cache import ResponseCache, connect
from inference.catalog import load_catalog
from storage.collections import CollectionRecord
from tests.indexing.test_embedding_service import FakeEmbedder, _fake_settings
from tests.inference.test_cache import redis_url  # noqa: F401 - fixture, found by name


@pytest.fixture
def cache(redis_url: str) -> Iterator[ResponseCache]:  # noqa: F811
    cache = ResponseCache(CacheSettings(), lambda: connect(redis_url, 0.5))
    yield cache
    asyncio.run(cache.aclose())


def test_embeddings_of_cached_texts_are_not_computed_again(redis_url: str) -> None:  # noqa: F811
    async def scenario() -> None:
        fake = FakeEmbedder()
        cache = ResponseCache(CacheSettings(), lambda: connect(redis_url, 0.5))
        service = EmbeddingService(_fake_settings(batch_size=8), {"fake": fake}, cache=cache)
        first = await service.embed("fake", ["alpha", "beta"], "query")
        assert first.cached == 0 and fake.batches == [["alpha", "beta"]]
        again = await service.embed("fake", ["beta", "gamma", "alpha"], "query")
        assert fake.batches[-1] == ["gamma"]  # only the miss reached the model
        assert again.cached == 2 and again.vectors.dtype == np.float32
        assert np.allclose(again.vectors[0], first.vectors[1]) and np.allclose(
            again.vectors[2], first.vectors[0]
        )
        assert again.prompt_tokens == len("beta") + len("gamma") + len("alpha")
        hit = await service.embed("fake", "alpha", "query")
        assert hit.cached == 1 and len(fake.batches) == 2
        await service.embed("fake", "alpha", "passage")  # another input type is another vector
        assert fake.batches[-1] == ["alpha"]
        service.close()
        await cache.aclose()

    asyncio.run(scenario())


def record(version: int = 1, collection_id: str = "c1") -> CollectionRecord:
    return CollectionRecord(collection_id, "t", "docs", None, "e5", "c_x", version, datetime.now(UTC))


def test_answer_keys_follow_content_question_and_history(cache: ResponseCache) -> None:
    catalog = load_catalog(
        CONFIG_DIR / "models.yaml",
        profiles=[],
        engine_urls={"qwen2.5-coder-1.5b-instruct": "http://127.0.0.1:1/v1"},
        engine_context=4096,
    )
    answers = AnswerCache(cache, catalog, "default", RetrievalSettings())

    def key(rec: CollectionRecord | None = None, question: str = "q?", **kw: object) -> str | None:
        options: dict[str, object] = {"top_k": None, "session_id": None, "assistant": None, "history": None}
        options.update(kw)
        return answers.key(rec or record(), question, **options)  # type: ignore[arg-type]

    base = key()
    assert base is not None and base == key(question="  q?  ")
    assert key(session_id="s1") is None  # a conversation's answer depends on its stored turns
    spec = AssistantSpec("a", "", "docs", "You are terse.")
    variants = [
        key(record(version=2)),  # re-ingested
        key(record(collection_id="c2")),  # another collection (another tenant's, or recreated)
        key(question="q2?"),
        key(top_k=3),
        key(history=[("user", "hi"), ("assistant", "hello")]),
        key(history=[]),
        key(assistant=spec),
        key(assistant=AssistantSpec("a", "", "docs", "You are verbose.")),
    ]
    assert base not in variants and len(set(variants)) == len(variants)
