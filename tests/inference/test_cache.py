"""inference.cache and inference.chat_cache: what is cacheable, the keys, the stream replay and assembly, and
the circuit breaker around a real Redis (a dedicated db, flushed; a killed redis-server for the outage)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from configs.settings import CONFIG_DIR, CacheSettings
from inference import sse
from inference.cache import ResponseCache, connect
from inference.catalog import ModelCatalog, load_catalog
from inference.chat_cache import StreamAssembler, chat_key, is_deterministic, replay_stream
from tests.workers.support import RedisProcess


@pytest.fixture(scope="module")
def redis_url(own_redis: RedisProcess) -> str:
    """A database of the tests' own redis-server (tests/conftest.py)."""
    return own_redis.db(4)


@pytest.fixture(scope="module")
def catalog() -> ModelCatalog:
    return load_catalog(
        CONFIG_DIR / "models.yaml",
        profiles=[],
        engine_urls={"qwen2.5-coder-1.5b-instruct": "http://127.0.0.1:1/v1"},
        engine_context=4096,
    )


def chat(**extra: Any) -> dict[str, Any]:
    return {"model": "default", "messages": [{"role": "user", "content": "Hi"}], **extra}


# -- what is cacheable, and the keys ----------------------------------------------------------------------


def test_only_deterministic_requests_are_cacheable(catalog: ModelCatalog) -> None:
    assert is_deterministic(chat(temperature=0)) and is_deterministic(chat(temperature=0.0))
    assert is_deterministic(chat(temperature=0.9, seed=7))
    assert not is_deterministic(chat())  # the default temperature is 1
    assert not is_deterministic(chat(temperature=0.7))
    assert not is_deterministic(chat(temperature=0.7, seed=None))
    assert chat_key(catalog, chat(temperature=0.7)) is None
    assert chat_key(catalog, chat(temperature=0)) is not None


def test_the_key_follows_what_changes_the_output(catalog: ModelCatalog) -> None:
    base = chat_key(catalog, chat(temperature=0, max_tokens=8))
    assert base is not None and base.startswith("hearth:cache:v1:chat:")
    # an alias and its model share answers; stream, stream_options and user do not change them
    alias = catalog.resolve("default")
    assert chat_key(catalog, {**chat(temperature=0, max_tokens=8), "model": alias}) == base
    same = chat(temperature=0, max_tokens=8, stream=True, stream_options={"include_usage": True}, user="u")
    assert chat_key(catalog, same) == base
    assert chat_key(catalog, {"max_tokens": 8, **chat(), "temperature": 0}) == base  # key order
    different = [
        chat(temperature=0, max_tokens=9),
        chat(temperature=0, max_tokens=8, top_p=0.5),
        chat(temperature=0, max_tokens=8, response_format={"type": "json_object"}),
        chat(temperature=0, max_tokens=8, seed=1),
        {**chat(temperature=0, max_tokens=8), "messages": [{"role": "user", "content": "Hi!"}]},
    ]
    keys = {chat_key(catalog, payload) for payload in different}
    assert base not in keys and len(keys) == len(different)
    assert chat_key(catalog, chat(seed=1)) != chat_key(catalog, chat(seed=2))
    # tenants do not share answers
    assert chat_key(catalog, chat(temperature=0), "t-a") != chat_key(catalog, chat(temperature=0), "t-b")


# -- streams ------------------------------------------------------------------------------------------------


COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hello there"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}


def test_a_stored_completion_replays_as_a_stream() -> None:
    events = replay_stream(orjson.dumps(COMPLETION), include_usage=True)
    assert events[-1] == sse.DONE
    chunks = sse.parse_events(b"".join(events))
    assert all(c["id"] == "chatcmpl-1" and c["object"] == "chat.completion.chunk" for c in chunks)
    assert (
        "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        == "Hello there"
    )
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == COMPLETION["usage"]
    without = sse.parse_events(b"".join(replay_stream(orjson.dumps(COMPLETION), include_usage=False)))
    assert all("usage" not in c for c in without)


def test_a_clean_stream_assembles_into_the_completion() -> None:
    assembler = StreamAssembler()
    for event in replay_stream(orjson.dumps(COMPLETION), include_usage=True):
        assembler.feed(event)
    body = assembler.completion(COMPLETION["usage"])  # type: ignore[arg-type]
    assert body is not None
    data = orjson.loads(body)
    assert data["choices"][0]["message"] == {"role": "assistant", "content": "Hello there"}
    assert data["usage"] == COMPLETION["usage"] and data["id"] == "chatcmpl-1"


def test_broken_or_failed_streams_are_not_assembled() -> None:
    events = replay_stream(orjson.dumps(COMPLETION), include_usage=False)
    cut = StreamAssembler()
    for event in events[:-1]:  # no [DONE]: the upstream died
        cut.feed(event)
    assert cut.completion({}) is None
    failed = StreamAssembler()
    for event in [events[0], sse.error_frame("boom"), events[-1]]:
        failed.feed(event)
    assert failed.completion({}) is None


# -- the cache and its circuit breaker ---------------------------------------------------------------------


def test_get_set_many_and_size_limit(redis_url: str) -> None:
    async def scenario() -> None:
        cache = ResponseCache(CacheSettings(max_entry_kb=1), lambda: connect(redis_url, 0.5))
        assert await cache.get("hearth:cache:v1:test:a") is None
        await cache.set("hearth:cache:v1:test:a", b"A")
        await cache.set("hearth:cache:v1:test:big", b"x" * 2048)  # over max_entry_kb: not stored
        await cache.set_many({"hearth:cache:v1:test:b": b"B"}, ttl_s=60)
        keys = ["hearth:cache:v1:test:a", "hearth:cache:v1:test:big", "hearth:cache:v1:test:b"]
        assert await cache.get_many(keys) == [b"A", None, b"B"]
        await cache.aclose()

    asyncio.run(scenario())
    ttl = redis.Redis.from_url(redis_url).ttl("hearth:cache:v1:test:a")
    assert 0 < ttl <= CacheSettings().ttl_s


def test_disabled_cache_never_calls_redis() -> None:
    def explode() -> Any:
        raise AssertionError("no client may be made")

    async def scenario() -> None:
        cache = ResponseCache(CacheSettings(enabled=False), explode)
        assert await cache.get("k") is None
        await cache.set("k", b"v")

    asyncio.run(scenario())


def test_redis_outage_is_logged_once_and_skipped_until_it_is_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisProcess(tmp_path / "redis")
    server.start()
    now = [0.0]
    made: list[int] = []

    def client() -> Any:
        made.append(1)
        return connect(server.url, 0.25)

    async def scenario() -> None:
        cache = ResponseCache(CacheSettings(retry_after_s=5), client, clock=lambda: now[0])
        await cache.set("k", b"v")
        assert await cache.get("k") == b"v"
        server.kill()
        for _ in range(5):  # every request still gets an answer (None): no error, no retry storm
            assert await cache.get("k") is None
            await cache.set("k", b"w")
        assert cache.down
        now[0] = 6.0  # the breaker lets one try through: still down, still quiet
        assert await cache.get("k") is None
        server.start()  # same port, same data directory
        assert await cache.get("k") is None  # within retry_after_s of the last failure: skipped
        now[0] = 12.0
        await cache.set("k", b"z")
        assert await cache.get("k") == b"z" and not cache.down
        await cache.aclose()

    with caplog.at_level(logging.WARNING, logger="hearth.cache"):
        try:
            asyncio.run(scenario())
        finally:
            server.kill()
    messages = [r.getMessage() for r in caplog.records if r.name == "hearth.cache"]
    assert len([m for m in messages if "cache is off" in m]) == 1
    assert len([m for m in messages if "cache is back" in m]) == 1
    assert made == [1]  # one client, which reconnects by itself
