"""Every table of Hearth, in one module (Alembic's env.py imports it to know the schema).

Rows stay inside the storage package: stores convert them to frozen domain types (e.g.
:class:`storage.keys.ApiKeyRecord`) before returning. A change here needs a hand-written revision in
``storage/migrations/versions`` (tests/storage/test_db.py checks the two agree).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, UTCDateTime, utcnow

API_KEY_ROLES = ("user", "admin")


class ApiKey(Base):
    """An API key: only the sha256 of the plaintext is kept, plus its first 8 characters for display."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("role IN ('user', 'admin')", name="role"),
        # names are unique among active keys, so a name can be reused once its key is revoked
        Index(
            "uq_api_keys_name_active",
            "name",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16), default="user")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


DOCUMENT_STATES = ("queued", "indexing", "indexed", "failed")


class Collection(Base):
    """A tenant's document collection; its chunks live in the vector store under ``store_name``."""

    __tablename__ = "collections"
    __table_args__ = (UniqueConstraint("tenant", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text())
    embedder: Mapped[str] = mapped_column(String(200))
    store_name: Mapped[str] = mapped_column(String(100), unique=True)
    # bumped on every ingest or delete: what depends on the collection's content keys on it
    content_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Document(Base):
    """A document in a collection, identified by the sha256 of its bytes."""

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("collection_id", "document_id"),
        CheckConstraint("status IN ('queued', 'indexing', 'indexed', 'failed')", name="status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    chunks: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ChatTurn(Base):
    """One message of a RAG conversation (session memory), per tenant and session."""

    __tablename__ = "chat_turns"
    __table_args__ = (Index("ix_chat_turns_session", "tenant", "session_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


REPORT_KINDS = ("on_demand", "scheduled")


class Report(Base):
    """A stock/ETF report: the Markdown, the data snapshot every figure came from, and how it was written.

    ``run_key`` makes scheduled runs idempotent (e.g. ``daily:AAPL:2026-11-24``): a rerun, a second
    scheduler or a retried job finds the row instead of writing another. On-demand reports have none.
    ``tenant`` is None for scheduled reports, which every key may read.
    """

    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_ticker_created", "ticker", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str | None] = mapped_column(String(64), index=True)
    ticker: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16), default="on_demand")
    run_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    as_of: Mapped[str] = mapped_column(String(10))  # ISO date of the last bar in the data
    markdown: Mapped[str] = mapped_column(Text())
    data: Mapped[dict[str, Any]] = mapped_column(JSON())
    model: Mapped[str] = mapped_column(String(200))
    prompt_version: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Summary(Base):
    """A stored document summary, reused when the same bytes are summarised again with the same options."""

    __tablename__ = "summaries"
    __table_args__ = (UniqueConstraint("tenant", "document_sha", "options_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    document_sha: Mapped[str] = mapped_column(String(64))
    options_key: Mapped[str] = mapped_column(String(200))  # language, max_words, model, prompt version
    filename: Mapped[str] = mapped_column(String(500))
    result: Mapped[dict[str, Any]] = mapped_column(JSON())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


JOB_STATES = ("queued", "started", "finished", "failed")


class Job(Base):
    """A client-visible job (e.g. a summary batch) made of one RQ job per item."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class JobItem(Base):
    """One unit of a job, run by one RQ job; the worker records its state, result and error here."""

    __tablename__ = "job_items"
    __table_args__ = (
        UniqueConstraint("job_id", "position"),
        CheckConstraint("status IN ('queued', 'started', 'finished', 'failed')", name="status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # also the RQ job id
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(500))  # e.g. the file name
    params: Mapped[dict[str, Any]] = mapped_column(JSON())
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON())
    error: Mapped[str | None] = mapped_column(Text())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ErrorEvent(Base):
    """A recorded failure (a 5xx answer or a failed job), counted per fingerprint (source + message)."""

    __tablename__ = "error_events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(16))  # "route" or "job"
    name: Mapped[str] = mapped_column(String(200))  # the route or the job's function
    request_id: Mapped[str | None] = mapped_column(String(64))  # the latest occurrence's
    error_type: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text())
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
