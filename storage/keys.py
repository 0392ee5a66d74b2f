"""API keys in the database: created once (the plaintext is shown to the caller only), verified by hash.

A key is ``hk-`` followed by 40 URL-safe random characters (240 bits). Only its sha256 is stored, with its
first 8 characters for display. Verification hashes the candidate and looks the digest up through a unique
index, so the comparison never runs over the secret itself.

Synchronous: async callers use ``asyncio.to_thread``.
"""

from __future__ import annotations

import builtins
import dataclasses
import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Literal, cast

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from storage.db import describe_error, utcnow
from storage.errors import DatabaseUnavailable, DuplicateKeyName, InvalidKeyField, KeyNotFound
from storage.models import API_KEY_ROLES, ApiKey

log = logging.getLogger("hearth.storage")

KEY_PREFIX = "hk-"
DISPLAY_PREFIX_LEN = 8
MAX_NAME_LEN = 200
MAX_TENANT_LEN = 64
# longer candidates cannot be ours: refuse them before hashing attacker-sized input
MAX_KEY_LEN = 256

Role = Literal["user", "admin"]


def hash_key(plaintext: str) -> str:
    """The stored form of a key: sha256 of its UTF-8 bytes, hex."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def generate_key() -> str:
    """A new plaintext key: ``hk-`` + 40 URL-safe random characters."""
    return KEY_PREFIX + secrets.token_urlsafe(30)


@dataclasses.dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """An API key as the rest of Hearth sees it (never the plaintext, never the hash)."""

    id: str
    name: str
    prefix: str
    tenant: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _record(row: ApiKey) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        tenant=row.tenant,
        role=cast(Role, row.role),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


class ApiKeyStore:
    """Create, verify, list and revoke API keys.

    ``touch_interval_s``: ``verify`` records ``last_used_at`` at most this often per key, so that a busy key
    does not turn every request into a write.
    """

    def __init__(self, session_factory: Callable[[], Session], *, touch_interval_s: float = 60.0) -> None:
        self._sessions = session_factory
        self._touch_interval = timedelta(seconds=touch_interval_s)

    def create(self, name: str, *, tenant: str | None = None, role: str = "user") -> tuple[str, ApiKeyRecord]:
        """A new key; returns ``(plaintext, record)``. The plaintext cannot be recovered later.

        ``tenant`` defaults to a new id of its own, so each key is its own tenant.
        """
        name = _check_name(name)
        if role not in API_KEY_ROLES:
            raise InvalidKeyField(f"role must be one of {list(API_KEY_ROLES)}, not {role!r}")
        if tenant is not None and not 0 < len(tenant.strip()) <= MAX_TENANT_LEN:
            raise InvalidKeyField(f"tenant must be 1..{MAX_TENANT_LEN} characters")
        plaintext = generate_key()
        row = ApiKey(
            id=str(uuid.uuid4()),
            name=name,
            key_hash=hash_key(plaintext),
            prefix=plaintext[:DISPLAY_PREFIX_LEN],
            tenant=tenant.strip() if tenant is not None else uuid.uuid4().hex,
            role=role,
            created_at=utcnow(),
        )
        with self._session() as session:
            if session.scalar(select(ApiKey.id).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))):
                raise DuplicateKeyName(name)
            session.add(row)
            try:
                session.commit()
            except IntegrityError as exc:  # a concurrent create of the same name won the race
                session.rollback()
                raise DuplicateKeyName(name) from exc
            return plaintext, _record(row)

    def verify(self, plaintext: str) -> ApiKeyRecord | None:
        """The active key whose plaintext this is, or None (unknown, malformed or revoked)."""
        if not plaintext or len(plaintext) > MAX_KEY_LEN:
            return None
        digest = hash_key(plaintext)
        with self._session() as session:
            row = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
            # the index lookup already matched; compare_digest keeps the final check constant-time anyway
            if row is None or not hmac.compare_digest(row.key_hash, digest) or row.revoked_at is not None:
                return None
            record = _record(row)
        return self._touch(record)

    def list(self) -> builtins.list[ApiKeyRecord]:
        """Every key, revoked ones included, oldest first."""
        with self._session() as session:
            rows = session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)).all()
            return [_record(row) for row in rows]

    def get(self, key_id_or_name: str) -> ApiKeyRecord:
        """The key with that id, else the active key with that name, else the newest revoked one by that
        name; KeyNotFound otherwise."""
        with self._session() as session:
            return _record(self._find(session, key_id_or_name))

    def revoke(self, key_id_or_name: str) -> ApiKeyRecord:
        """Revoke a key by id or name (see :meth:`get`); revoking a revoked key changes nothing."""
        with self._session() as session:
            row = self._find(session, key_id_or_name)
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                session.commit()
            return _record(row)

    def count(self, *, active_only: bool = False) -> int:
        """How many keys exist (revoked ones included unless ``active_only``)."""
        query = select(func.count()).select_from(ApiKey)
        if active_only:
            query = query.where(ApiKey.revoked_at.is_(None))
        with self._session() as session:
            return int(session.scalar(query) or 0)

    def _find(self, session: Session, key_id_or_name: str) -> ApiKey:
        row = session.get(ApiKey, key_id_or_name)
        if row is None:
            row = session.scalars(
                select(ApiKey)
                .where(ApiKey.name == key_id_or_name)
                # the active one first, then the most recently revoked
                .order_by(ApiKey.revoked_at.is_not(None), ApiKey.revoked_at.desc())
                .limit(1)
            ).first()
        if row is None:
            raise KeyNotFound(key_id_or_name)
        return row

    def _touch(self, record: ApiKeyRecord) -> ApiKeyRecord:
        now = utcnow()
        if record.last_used_at is not None and now - record.last_used_at < self._touch_interval:
            return record
        cutoff = now - self._touch_interval
        # its own short write transaction (no read before it), so SQLite writers queue instead of failing
        try:
            with self._sessions() as session:
                session.execute(
                    update(ApiKey)
                    .where(
                        ApiKey.id == record.id,
                        or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < cutoff),
                    )
                    .values(last_used_at=now)
                )
                session.commit()
        except SQLAlchemyError as exc:  # bookkeeping only: a valid key stays valid
            log.warning("could not record the use of API key %s: %s", record.id, describe_error(exc))
            return record
        return dataclasses.replace(record, last_used_at=now)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            with self._sessions() as session:
                yield session
        except OperationalError as exc:
            raise DatabaseUnavailable(f"the API key store failed: {describe_error(exc)}") from exc


def _check_name(name: str) -> str:
    name = name.strip()
    if not 0 < len(name) <= MAX_NAME_LEN:
        raise InvalidKeyField(f"a key name must be 1..{MAX_NAME_LEN} characters")
    return name
