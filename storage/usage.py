"""Tokens and requests per API key per day (UTC), as Redis hash counters.

One hash per day, ``hearth:usage:<YYYY-MM-DD>``, with the fields ``<key_id>|requests``,
``<key_id>|prompt_tokens``, ``<key_id>|completion_tokens`` (HINCRBY) and ``<key_id>|name`` /
``<key_id>|tenant``; each day expires after the retention period. Counting is best effort (a dead Redis
skips it, see :mod:`storage.redis_guard`); reading raises RedisUnavailable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from storage.errors import RedisUnavailable
from storage.redis_guard import RedisGuard

PREFIX = "hearth:usage:"
_COUNTERS = ("requests", "prompt_tokens", "completion_tokens")


@dataclass(frozen=True)
class UsageRow:
    key: str  # the key's name
    key_id: str
    tenant: str
    day: str
    requests: int
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def day_of(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


class UsageCounters:
    def __init__(
        self, guard: RedisGuard, *, retention_days: int = 90, clock: Callable[[], float] = time.time
    ) -> None:
        self._guard = guard
        self._ttl_s = max(retention_days, 1) * 86400
        self.retention_days = retention_days
        self._clock = clock

    async def add(
        self,
        key_id: str,
        name: str,
        tenant: str,
        *,
        requests: int = 1,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
    ) -> None:
        """Count one request (and its tokens) for today; never raises."""
        redis = self._guard.usable()
        if redis is None:
            return
        day_key = PREFIX + day_of(self._clock())
        try:
            async with redis.pipeline(transaction=False) as pipe:
                pipe.hincrby(day_key, f"{key_id}|requests", requests)
                if prompt_tokens:
                    pipe.hincrby(day_key, f"{key_id}|prompt_tokens", prompt_tokens)
                if completion_tokens:
                    pipe.hincrby(day_key, f"{key_id}|completion_tokens", completion_tokens)
                pipe.hset(day_key, mapping={f"{key_id}|name": name, f"{key_id}|tenant": tenant})
                pipe.expire(day_key, self._ttl_s)
                await pipe.execute()
        except Exception as exc:
            self._guard.failed(exc)
            return
        self._guard.succeeded()

    async def query(
        self, days: int = 7, *, tenant: str | None = None, key: str | None = None
    ) -> list[UsageRow]:
        """Rows of the last ``days`` days (today included), newest day first, then by key name.
        ``tenant`` keeps that tenant's keys; ``key`` keeps the key with that name or id."""
        redis = self._guard.usable()
        if redis is None:
            raise RedisUnavailable("usage counters are unavailable: Redis does not answer")
        today = datetime.fromtimestamp(self._clock(), UTC)
        names = [(today - timedelta(days=n)).strftime("%Y-%m-%d") for n in range(max(days, 1))]
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for day in names:
                    pipe.hgetall(PREFIX + day)
                hashes = await pipe.execute()
        except Exception as exc:
            self._guard.failed(exc)
            raise RedisUnavailable(f"usage counters are unavailable: {exc}") from exc
        self._guard.succeeded()
        rows: list[UsageRow] = []
        for day, fields in zip(names, hashes, strict=True):
            per_key: dict[str, dict[str, str]] = {}
            for field, value in fields.items():
                key_id, _, counter = _text(field).rpartition("|")
                per_key.setdefault(key_id, {})[counter] = _text(value)
            day_rows = [
                UsageRow(
                    key=values.get("name", key_id),
                    key_id=key_id,
                    tenant=values.get("tenant", ""),
                    day=day,
                    **{counter: int(values.get(counter, 0)) for counter in _COUNTERS},
                )
                for key_id, values in per_key.items()
            ]
            rows.extend(
                sorted(
                    (
                        row
                        for row in day_rows
                        if (tenant is None or row.tenant == tenant)
                        and (key is None or key in (row.key, row.key_id))
                    ),
                    key=lambda row: row.key,
                )
            )
        return rows


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
