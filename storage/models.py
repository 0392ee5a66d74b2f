"""Every table of Hearth, in one module (Alembic's env.py imports it to know the schema).

Rows stay inside the storage package: stores convert them to frozen domain types (e.g.
:class:`storage.keys.ApiKeyRecord`) before returning. A change here needs a hand-written revision in
``storage/migrations/versions`` (tests/storage/test_db.py checks the two agree).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
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
