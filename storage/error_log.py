"""Hearth's error log: every 5xx answer and every failed job, counted per kind of failure.

A failure is identified by a fingerprint of its source, name (route or job function), error type and
message, so the same failure repeated a thousand times is one row with a count, the latest request id and
the first and last time it was seen. ``GET /v1/admin/errors`` lists the rows, newest first.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from storage.db import utcnow
from storage.models import ErrorEvent

log = logging.getLogger("hearth.storage.errors")

MESSAGE_LIMIT = 2000


@dataclass(frozen=True)
class ErrorRecord:
    id: str
    source: str
    name: str
    request_id: str | None
    error_type: str
    message: str
    count: int
    first_seen: datetime
    last_seen: datetime


def fingerprint(source: str, name: str, error_type: str, message: str) -> str:
    return hashlib.sha256("\x1f".join((source, name, error_type, message)).encode()).hexdigest()


class ErrorLog:
    """Records failures in the database; recording never raises (a broken database is logged instead)."""

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self._sessions = session_factory

    def record(
        self,
        source: str,
        name: str,
        error_type: str,
        message: str,
        *,
        request_id: str | None = None,
    ) -> None:
        message = message[:MESSAGE_LIMIT]
        key = fingerprint(source, name, error_type, message)
        try:
            for _ in range(2):  # a concurrent first insert of the same fingerprint: update it instead
                if self._bump(key, request_id):
                    return
                try:
                    with self._sessions() as session, session.begin():
                        session.add(
                            ErrorEvent(
                                id=str(uuid.uuid4()),
                                fingerprint=key,
                                source=source,
                                name=name[:200],
                                request_id=request_id,
                                error_type=error_type[:200],
                                message=message,
                                count=1,
                            )
                        )
                    return
                except IntegrityError:
                    continue
        except SQLAlchemyError as exc:
            log.error("could not record an error (%s: %s) in the database: %s", error_type, message, exc)

    def _bump(self, key: str, request_id: str | None) -> bool:
        with self._sessions() as session, session.begin():
            result = session.execute(
                update(ErrorEvent)
                .where(ErrorEvent.fingerprint == key)
                .values(count=ErrorEvent.count + 1, last_seen=utcnow(), request_id=request_id)
            )
            return bool(getattr(result, "rowcount", 0))

    def recent(self, limit: int = 50, source: str | None = None) -> list[ErrorRecord]:
        query = select(ErrorEvent).order_by(ErrorEvent.last_seen.desc()).limit(limit)
        if source is not None:
            query = query.where(ErrorEvent.source == source)
        with self._sessions() as session:
            return [
                ErrorRecord(
                    row.id,
                    row.source,
                    row.name,
                    row.request_id,
                    row.error_type,
                    row.message,
                    row.count,
                    row.first_seen,
                    row.last_seen,
                )
                for row in session.scalars(query)
            ]
