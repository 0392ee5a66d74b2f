"""The Redis response cache: exact response bytes under a key, and a circuit breaker around Redis.

Every command has a short timeout and no retry loop. The first failure turns the cache off for
``retry_after_s`` (logged once); the next command after that tries Redis again, and the first one that works
logs once that the cache is back. Meanwhile :meth:`ResponseCache.get` answers None and :meth:`set` does
nothing, so a dead Redis costs requests nothing but the cache. Callers never see a Redis error.

What is cached, and under which key, is decided by the callers (:mod:`inference.chat_cache` for chat
completions, the answer and embedding services for theirs); keys are ``hearth:cache:v1:<kind>:<digest>``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from configs.settings import CacheSettings
from storage.redis_guard import RedisGuard

log = logging.getLogger("hearth.cache")

PREFIX = "hearth:cache:v1:"
HEADER = "x-hearth-cache"
Outcome = Literal["hit", "miss", "bypass"]


def cache_key(kind: str, *parts: Any) -> str:
    """A key for ``parts`` (anything orjson serialises; dict keys sorted, so their order does not matter)."""
    digest = hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"{PREFIX}{kind}:{digest}"


def connect(url: str, timeout_s: float) -> aioredis.Redis:
    """A client for the cache alone: short timeouts and one immediate retry (a stale pooled connection),
    so a dead Redis fails a command in about ``timeout_s`` instead of the queue client's backoff."""
    return aioredis.Redis.from_url(
        url,
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )


class Cache(Protocol):
    """The seam the services take (tests may pass a fake)."""

    @property
    def enabled(self) -> bool: ...

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: int | None = None) -> None: ...


class ResponseCache:
    """Bytes by key in Redis. ``client`` makes the Redis client, on first use (the URL is only known once
    Redis was started); :func:`connect` makes a fitting one."""

    def __init__(
        self,
        settings: CacheSettings,
        client: Callable[[], aioredis.Redis],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._guard = RedisGuard(
            "the response cache is", client, retry_after_s=settings.retry_after_s, clock=clock, logger=log
        )
        self._max_bytes = settings.max_entry_kb * 1024

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    @property
    def down(self) -> bool:
        """Whether the last command failed (the cache is skipped until ``retry_after_s`` passed)."""
        return self._guard.down

    async def get(self, key: str) -> bytes | None:
        redis = self._usable()
        if redis is None:
            return None
        try:
            value = await redis.get(key)
        except Exception as exc:
            self._guard.failed(exc)
            return None
        self._guard.succeeded()
        return value if isinstance(value, bytes) else None

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        redis = self._usable() if keys else None
        if redis is None:
            return [None] * len(keys)
        try:
            values = await redis.mget(keys)
        except Exception as exc:
            self._guard.failed(exc)
            return [None] * len(keys)
        self._guard.succeeded()
        return [value if isinstance(value, bytes) else None for value in values]

    async def set(self, key: str, value: bytes, ttl_s: int | None = None) -> None:
        await self.set_many({key: value}, ttl_s)

    async def set_many(self, items: Mapping[str, bytes], ttl_s: int | None = None) -> None:
        items = {k: v for k, v in items.items() if len(v) <= self._max_bytes}
        redis = self._usable() if items else None
        if redis is None:
            return
        ttl = ttl_s or self.settings.ttl_s
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for key, value in items.items():
                    pipe.set(key, value, ex=ttl)
                await pipe.execute()
        except Exception as exc:
            self._guard.failed(exc)
            return
        self._guard.succeeded()

    async def aclose(self) -> None:
        await self._guard.aclose()

    def _usable(self) -> aioredis.Redis | None:
        return self._guard.usable() if self.settings.enabled else None
