"""Stored document summaries: one per tenant, document (sha256 of its bytes) and options, reused on a
second request for the same file."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.db import transaction, utcnow
from storage.models import Summary


@dataclass(frozen=True)
class StoredSummary:
    id: str
    tenant: str
    document_sha: str
    options_key: str
    filename: str
    result: dict[str, Any]
    created_at: datetime


def _stored(row: Summary) -> StoredSummary:
    return StoredSummary(
        row.id, row.tenant, row.document_sha, row.options_key, row.filename, dict(row.result), row.created_at
    )


class SummaryRepository:
    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self._sessions = session_factory

    def _session(self) -> AbstractContextManager[Session]:
        return transaction(self._sessions)

    def get(self, tenant: str, document_sha: str, options_key: str) -> StoredSummary | None:
        with self._session() as session:
            row = session.scalar(
                select(Summary).where(
                    Summary.tenant == tenant,
                    Summary.document_sha == document_sha,
                    Summary.options_key == options_key,
                )
            )
            return _stored(row) if row is not None else None

    def save(
        self, tenant: str, document_sha: str, options_key: str, filename: str, result: dict[str, Any]
    ) -> StoredSummary:
        """Store a result; when a concurrent request stored one for the same key first, that one is kept and
        returned (so both callers give the same answer)."""
        row = Summary(
            id=str(uuid.uuid4()),
            tenant=tenant,
            document_sha=document_sha,
            options_key=options_key,
            filename=filename[:500],
            result=result,
            created_at=utcnow(),
        )
        try:
            with self._session() as session:
                session.add(row)
        except IntegrityError:
            existing = self.get(tenant, document_sha, options_key)
            if existing is None:  # the winner was deleted in between: nothing to reuse, store ours
                raise
            return existing
        return _stored(row)
