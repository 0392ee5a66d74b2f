"""The per-key limits and usage counters against a real Redis (db 11 of the machine's, flushed)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from configs.settings import KeyLimit, LimitSettings
from storage.errors import RedisUnavailable
from storage.rate_limits import RateLimiter
from storage.redis_guard import RedisGuard
from storage.usage import UsageCounters

URL = os.environ.get("HEARTH_TEST_LIMITS_REDIS", "redis://127.0.0.1:6379/11")
DEAD = "redis://127.0.0.1:1/0"  # nothing listens on port 1

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    client = aioredis.Redis.from_url(URL, socket_connect_timeout=1)
    try:
        await client.flushdb()
    except Exception as exc:
        await client.aclose()
        pytest.skip(f"no Redis at {URL}: {exc}")
    yield URL
    await client.flushdb()
    await client.aclose()


def guard(url: str) -> RedisGuard:
    return RedisGuard(
        "test", lambda: aioredis.Redis.from_url(url, socket_connect_timeout=0.2, socket_timeout=0.2)
    )


async def test_requests_per_minute_refuses_then_resets_with_the_window(redis_url: str) -> None:
    clock = Clock(1_000_040.0)  # 20 s into a minute
    limiter = RateLimiter(LimitSettings(requests_per_minute=3), guard(redis_url), clock=clock)
    assert limiter.active
    results = [await limiter.check("k1", "alice") for _ in range(4)]
    assert results[:3] == [None, None, None]
    refusal = results[3]
    assert refusal is not None and refusal.kind == "requests" and refusal.limit == 3
    assert refusal.retry_after_s == 40
    assert await limiter.check("k2", "bob") is None  # another key has its own window
    clock.now += 40
    assert await limiter.check("k1", "alice") is None
    await limiter.aclose()


async def test_tokens_per_minute_counts_usage_after_the_answer(redis_url: str) -> None:
    clock = Clock(2_000_000.0)
    limiter = RateLimiter(LimitSettings(tokens_per_minute=100), guard(redis_url), clock=clock)
    assert await limiter.check("k1", "alice") is None
    await limiter.add_tokens("k1", "alice", 60)
    assert await limiter.check("k1", "alice") is None  # 60 < 100: let through
    await limiter.add_tokens("k1", "alice", 60)
    refusal = await limiter.check("k1", "alice")
    assert refusal is not None and refusal.kind == "tokens" and refusal.used == 120
    await limiter.aclose()


async def test_per_key_overrides_and_unlimited_defaults(redis_url: str) -> None:
    settings = LimitSettings(per_key={"batch": KeyLimit(rpm=1), "free": KeyLimit(tpm=5)})
    limiter = RateLimiter(settings, guard(redis_url))
    assert limiter.active
    assert limiter.limits_for("batch").rpm == 1 and limiter.limits_for("other").rpm == 0
    assert await limiter.check("k1", "batch") is None
    assert await limiter.check("k1", "batch") is not None
    for _ in range(5):  # no default limit: never refused, never touches Redis
        assert await limiter.check("k2", "other") is None
    assert not RateLimiter(LimitSettings(), guard(redis_url)).active
    assert not RateLimiter(LimitSettings(enabled=False, requests_per_minute=1), guard(redis_url)).active
    await limiter.aclose()


async def test_limits_fail_open_when_redis_is_down() -> None:
    limiter = RateLimiter(LimitSettings(requests_per_minute=1), guard(DEAD))
    for _ in range(3):
        assert await limiter.check("k1", "alice") is None
    await limiter.add_tokens("k1", "alice", 10)


async def test_usage_counters_per_key_per_day(redis_url: str) -> None:
    clock = Clock(1_700_000_000.0)  # 2023-11-14 UTC
    usage = UsageCounters(guard(redis_url), clock=clock)
    await usage.add("id-a", "alice", "t-a", prompt_tokens=10, completion_tokens=5)
    await usage.add("id-a", "alice", "t-a", prompt_tokens=1, completion_tokens=2)
    await usage.add("id-b", "bob", "t-b")
    clock.now += 86400
    await usage.add("id-a", "alice", "t-a", prompt_tokens=7)

    rows = await usage.query(days=7)
    assert [(r.day, r.key, r.requests, r.prompt_tokens, r.completion_tokens) for r in rows] == [
        ("2023-11-15", "alice", 1, 7, 0),
        ("2023-11-14", "alice", 2, 11, 7),
        ("2023-11-14", "bob", 1, 0, 0),
    ]
    assert rows[1].total_tokens == 18
    assert {r.key for r in await usage.query(days=7, tenant="t-b")} == {"bob"}
    assert [r.day for r in await usage.query(days=7, key="id-a")] == ["2023-11-15", "2023-11-14"]
    assert [r.day for r in await usage.query(days=1)] == ["2023-11-15"]
    ttl = await aioredis.Redis.from_url(redis_url).ttl("hearth:usage:2023-11-14")
    assert 89 * 86400 < ttl <= 90 * 86400


async def test_usage_counting_skips_a_dead_redis_and_reading_says_so() -> None:
    usage = UsageCounters(guard(DEAD))
    await usage.add("id-a", "alice", "t-a", prompt_tokens=1)  # no exception
    with pytest.raises(RedisUnavailable):
        await usage.query()
