"""API keys → principals. Each key is its own tenant unless configured otherwise.

Keys come from ``HEARTH_API_KEYS`` (held in memory, hashed) and from the database (``hearth keys create``,
stored as sha256 hashes). Database lookups are cached for a short time so the hot path does no I/O.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from api.errors import ApiError
from storage.keys import ApiKeyStore, hash_key
from storage.rate_limits import Refusal


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    tenant: str
    role: str = "user"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _missing() -> ApiError:
    return ApiError(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization header "
        "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        code="missing_api_key",
        headers={"www-authenticate": "Bearer"},
    )


def _invalid(key: str) -> ApiError:
    shown = f"{key[:6]}...{key[-2:]}" if len(key) > 10 else "***"
    return ApiError(
        401,
        f"Incorrect API key provided: {shown}.",
        code="invalid_api_key",
        headers={"www-authenticate": "Bearer"},
    )


def rate_limited(principal: Principal, refusal: Refusal) -> ApiError:
    """OpenAI's 429: ``type`` requests|tokens, ``code`` rate_limit_exceeded, and when to try again."""
    unit = "requests per min (RPM)" if refusal.kind == "requests" else "tokens per min (TPM)"
    return ApiError(
        429,
        f"Rate limit reached for key '{principal.name}' on {unit}: Limit {refusal.limit}, "
        f"Used {refusal.used}. Please try again in {refusal.retry_after_s}s.",
        type=refusal.kind,
        code="rate_limit_exceeded",
        headers={"retry-after": str(refusal.retry_after_s)},
    )


class Authenticator:
    NEGATIVE_TTL_S = 2.0

    def __init__(
        self,
        *,
        env_keys: list[str],
        admin_keys: list[str],
        store: ApiKeyStore | None,
        cache_ttl_s: float = 30.0,
    ) -> None:
        self._static: dict[str, Principal] = {}
        for key in dict.fromkeys([*env_keys, *admin_keys]):
            digest = hash_key(key)
            self._static[digest] = Principal(
                key_id=f"env:{digest[:12]}",
                name=f"env-{key[:6]}",
                tenant=f"t-{digest[:16]}",
                role="admin" if key in admin_keys else "user",
            )
        self._store = store
        self._ttl = cache_ttl_s
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    @property
    def has_static_keys(self) -> bool:
        return bool(self._static)

    async def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise _missing()
        scheme, _, key = authorization.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise _missing()
        digest = hash_key(key)
        principal = self._static.get(digest)
        if principal is not None:
            return principal
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            if cached[1] is None:
                raise _invalid(key)
            return cached[1]
        principal = await asyncio.to_thread(self._lookup, key)
        ttl = self._ttl if principal is not None else self.NEGATIVE_TTL_S
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now + ttl, principal)
        if principal is None:
            raise _invalid(key)
        return principal

    def _lookup(self, key: str) -> Principal | None:
        if self._store is None:
            return None
        record = self._store.verify(key)
        if record is None:
            return None
        return Principal(key_id=record.id, name=record.name, tenant=record.tenant, role=record.role)
