"""Best-effort Redis for features that must never fail a request (the response cache, usage counters,
rate limits).

A :class:`RedisGuard` hands out its client until a command fails; then the feature is skipped for
``retry_after_s`` and the outage is logged once (and its end once): a circuit breaker around Redis.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis.asyncio as aioredis

log = logging.getLogger("hearth.storage.redis")


class RedisGuard:
    def __init__(
        self,
        what: str,
        client: Callable[[], aioredis.Redis],
        *,
        retry_after_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = log,
    ) -> None:
        self.what = what
        self._log = logger
        self._make_client = client
        self._client: aioredis.Redis | None = None
        self._retry_after_s = retry_after_s
        self._clock = clock
        self._down_until = 0.0
        self.down = False

    def usable(self) -> aioredis.Redis | None:
        """The client, or None while Redis is considered down."""
        if self.down and self._clock() < self._down_until:
            return None
        if self._client is None:
            try:
                self._client = self._make_client()
            except Exception as exc:
                self.failed(exc)
                return None
        return self._client

    def failed(self, exc: BaseException) -> None:
        self._down_until = self._clock() + self._retry_after_s
        if not self.down:
            self.down = True
            self._log.warning(
                "%s off: Redis failed (%s: %s); requests go on without it, Redis is tried again every %.0fs",
                self.what,
                type(exc).__name__,
                exc,
                self._retry_after_s,
            )

    def succeeded(self) -> None:
        if self.down:
            self.down = False
            self._log.warning("%s back: Redis answers again", self.what)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.aclose()
            except Exception:  # closing a client of a dead server must not fail a shutdown
                self._log.debug("closing the Redis client of %s failed", self.what, exc_info=True)
