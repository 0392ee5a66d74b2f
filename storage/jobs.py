"""Client-visible jobs and their items in the database.

A job (e.g. a summary batch) is one row in ``jobs`` and one row per unit of work in ``job_items``; each item
is run by one RQ job whose id is the item's id. The worker writes an item's state, progress, result and
error here, so ``GET /v1/jobs/{id}`` reads one place whatever happened to Redis or to a worker.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from storage.db import transaction, utcnow
from storage.models import Job, JobItem


@dataclass(frozen=True)
class JobItemRecord:
    id: str
    job_id: str
    position: int
    label: str
    params: dict[str, Any]
    status: str
    progress: float
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    updated_at: datetime


@dataclass(frozen=True)
class JobRecord:
    id: str
    tenant: str
    kind: str
    created_at: datetime
    items: tuple[JobItemRecord, ...]

    @property
    def status(self) -> str:
        """queued until an item starts; started while any item is unfinished; then finished, or failed when
        every item failed (a batch with some failures is finished: each item says how it ended)."""
        states = [item.status for item in self.items]
        if not states or all(state == "queued" for state in states):
            return "queued"
        if any(state in ("queued", "started") for state in states):
            return "started"
        if all(state == "failed" for state in states):
            return "failed"
        return "finished"

    @property
    def progress(self) -> float:
        if not self.items:
            return 0.0
        done = sum(1.0 if item.status in ("finished", "failed") else item.progress for item in self.items)
        return round(done / len(self.items), 4)


def _item(row: JobItem) -> JobItemRecord:
    return JobItemRecord(
        row.id,
        row.job_id,
        row.position,
        row.label,
        dict(row.params or {}),
        row.status,
        row.progress,
        row.result,
        row.error,
        row.attempts,
        row.updated_at,
    )


class JobRepository:
    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self._sessions = session_factory

    def _session(self) -> AbstractContextManager[Session]:
        return transaction(self._sessions)

    def create(self, tenant: str, kind: str, items: Sequence[tuple[str, dict[str, Any]]]) -> JobRecord:
        """A new job with one queued item per ``(label, params)``."""
        job_id = str(uuid.uuid4())
        with self._session() as session:
            session.add(Job(id=job_id, tenant=tenant, kind=kind))
            session.flush()
            for position, (label, params) in enumerate(items):
                session.add(
                    JobItem(
                        id=str(uuid.uuid4()),
                        job_id=job_id,
                        position=position,
                        label=label[:500],
                        params=params,
                        status="queued",
                        progress=0.0,
                        attempts=0,
                    )
                )
        record = self.get(job_id)
        assert record is not None
        return record

    def delete(self, job_id: str) -> None:
        with self._session() as session:
            session.execute(delete(JobItem).where(JobItem.job_id == job_id))
            session.execute(delete(Job).where(Job.id == job_id))

    def get(self, job_id: str, tenant: str | None = None) -> JobRecord | None:
        """The job with its items; None when it does not exist or belongs to another tenant."""
        with self._session() as session:
            job = session.get(Job, job_id)
            if job is None or (tenant is not None and job.tenant != tenant):
                return None
            rows = session.scalars(
                select(JobItem).where(JobItem.job_id == job_id).order_by(JobItem.position)
            ).all()
            return JobRecord(job.id, job.tenant, job.kind, job.created_at, tuple(_item(r) for r in rows))

    def item(self, item_id: str) -> JobItemRecord | None:
        with self._session() as session:
            row = session.get(JobItem, item_id)
            return _item(row) if row is not None else None

    def tenant_of(self, item_id: str) -> str | None:
        with self._session() as session:
            row = session.get(JobItem, item_id)
            if row is None:
                return None
            job = session.get(Job, row.job_id)
            return job.tenant if job is not None else None

    def start(self, item_id: str) -> None:
        """The item's RQ job began (again, after a retry): count the attempt, clear the last error."""
        with self._session() as session:
            session.execute(
                update(JobItem)
                .where(JobItem.id == item_id)
                .values(
                    status="started",
                    progress=0.0,
                    attempts=JobItem.attempts + 1,
                    error=None,
                    updated_at=utcnow(),
                )
            )

    def progress(self, item_id: str, fraction: float) -> None:
        with self._session() as session:
            session.execute(
                update(JobItem)
                .where(JobItem.id == item_id, JobItem.status == "started")
                .values(progress=max(0.0, min(1.0, fraction)), updated_at=utcnow())
            )

    def finish(self, item_id: str, result: dict[str, Any]) -> None:
        with self._session() as session:
            session.execute(
                update(JobItem)
                .where(JobItem.id == item_id)
                .values(status="finished", progress=1.0, result=result, error=None, updated_at=utcnow())
            )

    def fail(self, item_id: str, error: str, *, final: bool) -> None:
        """Record a failed attempt: back to queued when RQ will retry it, failed for good otherwise."""
        with self._session() as session:
            session.execute(
                update(JobItem)
                .where(JobItem.id == item_id)
                .values(status="failed" if final else "queued", error=error[:2000], updated_at=utcnow())
            )
