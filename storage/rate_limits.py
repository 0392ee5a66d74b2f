"""Per-key request and token limits per minute, counted in Redis so every API replica shares them.

Fixed one-minute windows: ``hearth:rl:req:<key_id>:<minute>`` (INCR on each request) and
``hearth:rl:tok:<key_id>:<minute>`` (INCRBY the tokens a request used, after its answer). A request is
refused when the window already holds ``rpm`` requests, or when its tokens reached ``tpm``; it may try again
when the window ends (``retry_after_s``). A fixed window lets a client send up to twice the limit around a
window's edge; that is the price of one round trip per request. Redis down: nothing is enforced.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from configs.settings import LimitSettings
from storage.redis_guard import RedisGuard

WINDOW_S = 60
_TTL_S = WINDOW_S * 2


@dataclass(frozen=True)
class KeyLimits:
    rpm: int  # 0 = unlimited
    tpm: int

    @property
    def unlimited(self) -> bool:
        return self.rpm <= 0 and self.tpm <= 0


@dataclass(frozen=True)
class Refusal:
    kind: Literal["requests", "tokens"]
    limit: int
    used: int
    retry_after_s: int


class RateLimiter:
    def __init__(
        self, settings: LimitSettings, guard: RedisGuard, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self._guard = guard
        self._clock = clock
        self._default = KeyLimits(settings.requests_per_minute, settings.tokens_per_minute)
        self._per_key = {
            name: KeyLimits(
                self._default.rpm if limit.rpm is None else limit.rpm,
                self._default.tpm if limit.tpm is None else limit.tpm,
            )
            for name, limit in settings.per_key.items()
        }

    @property
    def active(self) -> bool:
        """Whether any key has a limit at all (otherwise requests skip Redis entirely)."""
        return self.settings.enabled and not (
            self._default.unlimited and all(limit.unlimited for limit in self._per_key.values())
        )

    def limits_for(self, name: str) -> KeyLimits:
        return self._per_key.get(name, self._default)

    async def check(self, key_id: str, name: str) -> Refusal | None:
        """Count this request; a Refusal when the key is over a limit (None also when Redis is down)."""
        limits = self.limits_for(name)
        if not self.settings.enabled or limits.unlimited:
            return None
        redis = self._guard.usable()
        if redis is None:
            return None
        now = self._clock()
        window = int(now // WINDOW_S)
        retry_after = max(1, math.ceil((window + 1) * WINDOW_S - now))
        try:
            async with redis.pipeline(transaction=False) as pipe:
                if limits.rpm > 0:
                    pipe.incr(f"hearth:rl:req:{key_id}:{window}")
                    pipe.expire(f"hearth:rl:req:{key_id}:{window}", _TTL_S)
                if limits.tpm > 0:
                    pipe.get(f"hearth:rl:tok:{key_id}:{window}")
                results = await pipe.execute()
        except Exception as exc:
            self._guard.failed(exc)
            return None
        self._guard.succeeded()
        if limits.rpm > 0:
            requests = int(results[0])
            if requests > limits.rpm:
                return Refusal("requests", limits.rpm, requests - 1, retry_after)
        if limits.tpm > 0:
            tokens = int(results[-1] or 0)
            if tokens >= limits.tpm:
                return Refusal("tokens", limits.tpm, tokens, retry_after)
        return None

    async def add_tokens(self, key_id: str, name: str, tokens: int) -> None:
        """Count the tokens a request used in the current window; never raises."""
        if tokens <= 0 or not self.settings.enabled or self.limits_for(name).tpm <= 0:
            return
        redis = self._guard.usable()
        if redis is None:
            return
        key = f"hearth:rl:tok:{key_id}:{int(self._clock() // WINDOW_S)}"
        try:
            async with redis.pipeline(transaction=False) as pipe:
                pipe.incrby(key, tokens)
                pipe.expire(key, _TTL_S)
                await pipe.execute()
        except Exception as exc:
            self._guard.failed(exc)
            return
        self._guard.succeeded()

    async def aclose(self) -> None:
        await self._guard.aclose()
