"""Stock and ETF reports in the database (the ``reports`` table).

On-demand reports belong to the tenant that asked for them; scheduled reports have no tenant and every key
may read them. ``run_key`` (unique) makes scheduled runs idempotent: adding a report whose run key exists
returns the stored one, also when two workers race to add it.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.db import describe_error, transaction, utcnow
from storage.errors import StorageError
from storage.models import REPORT_KINDS, Report


@dataclass(frozen=True)
class ReportRecord:
    id: str
    tenant: str | None
    ticker: str
    period: str
    kind: str
    run_key: str | None
    as_of: str
    markdown: str
    data: dict[str, Any]
    model: str
    prompt_version: str
    created_at: datetime


def _record(row: Report) -> ReportRecord:
    return ReportRecord(
        row.id,
        row.tenant,
        row.ticker,
        row.period,
        row.kind,
        row.run_key,
        row.as_of,
        row.markdown,
        dict(row.data),
        row.model,
        row.prompt_version,
        row.created_at,
    )


class ReportRepository:
    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self._sessions = session_factory

    def _session(self) -> AbstractContextManager[Session]:
        return transaction(self._sessions)

    def add(
        self,
        *,
        tenant: str | None,
        ticker: str,
        period: str,
        kind: str,
        run_key: str | None,
        as_of: str,
        markdown: str,
        data: dict[str, Any],
        model: str,
        prompt_version: str,
    ) -> ReportRecord:
        """Store a report; with a ``run_key`` that is already stored, return that report instead."""
        if kind not in REPORT_KINDS:
            raise ValueError(f"kind must be one of {REPORT_KINDS}, not {kind!r}")
        row = Report(
            id=str(uuid.uuid4()),
            tenant=tenant,
            ticker=ticker,
            period=period,
            kind=kind,
            run_key=run_key,
            as_of=as_of,
            markdown=markdown,
            data=data,
            model=model,
            prompt_version=prompt_version,
            created_at=utcnow(),
        )
        try:
            with self._session() as session:
                session.add(row)
        except IntegrityError as exc:
            existing = self.get_by_run_key(run_key) if run_key else None
            if existing is None:
                raise StorageError(f"the report could not be stored: {describe_error(exc)}") from exc
            return existing
        return _record(row)

    def get(self, report_id: str, tenant: str | None) -> ReportRecord | None:
        """The report if ``tenant`` may read it (its own, or a scheduled one)."""
        with self._session() as session:
            row = session.scalar(select(Report).where(Report.id == report_id, _visible_to(tenant)))
            return _record(row) if row is not None else None

    def list(
        self, tenant: str | None, ticker: str | None = None, limit: int = 20
    ) -> builtins.list[ReportRecord]:
        """The newest reports ``tenant`` may read, optionally of one ticker."""
        query = select(Report).where(_visible_to(tenant))
        if ticker is not None:
            query = query.where(Report.ticker == ticker)
        query = query.order_by(Report.created_at.desc(), Report.id).limit(limit)
        with self._session() as session:
            return [_record(row) for row in session.scalars(query).all()]

    def get_by_run_key(self, run_key: str) -> ReportRecord | None:
        with self._session() as session:
            row = session.scalar(select(Report).where(Report.run_key == run_key))
            return _record(row) if row is not None else None


def _visible_to(tenant: str | None) -> Any:
    if tenant is None:
        return Report.tenant.is_(None)
    return or_(Report.tenant == tenant, Report.tenant.is_(None))
