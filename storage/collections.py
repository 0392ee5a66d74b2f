"""Collections and their documents (per tenant), and RAG session memory, in the database."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.db import transaction, utcnow
from storage.errors import StorageError
from storage.models import ChatTurn, Collection, Document


class CollectionExists(StorageError):
    """The tenant already has a collection by that name (409)."""

    code = "collection_exists"


@dataclass(frozen=True)
class CollectionRecord:
    id: str
    tenant: str
    name: str
    description: str | None
    embedder: str
    store_name: str
    content_version: int
    created_at: datetime
    documents: int = 0


@dataclass(frozen=True)
class DocumentRecord:
    id: str
    collection_id: str
    document_id: str
    filename: str
    kind: str
    size_bytes: int
    pages: int
    chunks: int
    status: str
    progress: float
    error: str | None
    created_at: datetime
    updated_at: datetime


def _collection(row: Collection, documents: int = 0) -> CollectionRecord:
    return CollectionRecord(
        row.id,
        row.tenant,
        row.name,
        row.description,
        row.embedder,
        row.store_name,
        row.content_version,
        row.created_at,
        documents,
    )


def _document(row: Document) -> DocumentRecord:
    return DocumentRecord(
        row.id,
        row.collection_id,
        row.document_id,
        row.filename,
        row.kind,
        row.size_bytes,
        row.pages,
        row.chunks,
        row.status,
        row.progress,
        row.error,
        row.created_at,
        row.updated_at,
    )


class CollectionRepository:
    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self._sessions = session_factory

    def _session(self) -> AbstractContextManager[Session]:
        return transaction(self._sessions)

    # -- collections -----------------------------------------------------------------------------------------

    def create(self, tenant: str, name: str, description: str | None, embedder: str) -> CollectionRecord:
        collection_id = str(uuid.uuid4())
        row = Collection(
            id=collection_id,
            tenant=tenant,
            name=name,
            description=description,
            embedder=embedder,
            store_name=f"c_{collection_id.replace('-', '')}",
            content_version=0,
            created_at=utcnow(),
        )
        try:
            with self._session() as session:
                session.add(row)
        except IntegrityError as exc:
            raise CollectionExists(f"a collection named '{name}' already exists") from exc
        return _collection(row)

    def get(self, tenant: str, name: str) -> CollectionRecord | None:
        with self._session() as session:
            row = session.scalar(
                select(Collection).where(Collection.tenant == tenant, Collection.name == name)
            )
            if row is None:
                return None
            count = session.scalar(
                select(func.count()).select_from(Document).where(Document.collection_id == row.id)
            )
            return _collection(row, int(count or 0))

    def list(self, tenant: str) -> builtins.list[CollectionRecord]:
        with self._session() as session:
            counts = dict(
                session.execute(
                    select(Document.collection_id, func.count()).group_by(Document.collection_id)
                ).all()
            )
            rows = session.scalars(
                select(Collection).where(Collection.tenant == tenant).order_by(Collection.created_at)
            ).all()
            return [_collection(row, int(counts.get(row.id, 0))) for row in rows]

    def all_collections(self) -> builtins.list[CollectionRecord]:
        with self._session() as session:
            return [_collection(row) for row in session.scalars(select(Collection)).all()]

    def delete(self, collection_id: str) -> None:
        with self._session() as session:
            session.execute(delete(Document).where(Document.collection_id == collection_id))
            session.execute(delete(Collection).where(Collection.id == collection_id))

    def bump_version(self, collection_id: str) -> None:
        with self._session() as session:
            session.execute(
                update(Collection)
                .where(Collection.id == collection_id)
                .values(content_version=Collection.content_version + 1)
            )

    # -- documents -------------------------------------------------------------------------------------------

    def add_document(
        self, collection_id: str, document_id: str, filename: str, kind: str, size_bytes: int, pages: int
    ) -> tuple[DocumentRecord, bool]:
        """Register a document; (existing record, False) when the same bytes are already there."""
        with self._session() as session:
            existing = session.scalar(
                select(Document).where(
                    Document.collection_id == collection_id, Document.document_id == document_id
                )
            )
            if existing is not None and existing.status != "failed":
                return _document(existing), False
            if existing is not None:  # a failed earlier attempt: try again in place
                existing.status, existing.progress, existing.error = "queued", 0.0, None
                existing.filename, existing.updated_at = filename, utcnow()
                return _document(existing), True
            now = utcnow()
            row = Document(
                id=str(uuid.uuid4()),
                collection_id=collection_id,
                document_id=document_id,
                filename=filename,
                kind=kind,
                size_bytes=size_bytes,
                pages=pages,
                chunks=0,
                status="queued",
                progress=0.0,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
        return _document(row), True

    def update_document(self, collection_id: str, document_id: str, **values: object) -> None:
        with self._session() as session:
            session.execute(
                update(Document)
                .where(Document.collection_id == collection_id, Document.document_id == document_id)
                .values(updated_at=utcnow(), **values)
            )

    def get_document(self, collection_id: str, document_id: str) -> DocumentRecord | None:
        with self._session() as session:
            row = session.scalar(
                select(Document).where(
                    Document.collection_id == collection_id, Document.document_id == document_id
                )
            )
            return _document(row) if row is not None else None

    def list_documents(self, collection_id: str) -> builtins.list[DocumentRecord]:
        with self._session() as session:
            rows = session.scalars(
                select(Document).where(Document.collection_id == collection_id).order_by(Document.created_at)
            ).all()
            return [_document(row) for row in rows]

    def delete_document(self, collection_id: str, document_id: str) -> bool:
        with self._session() as session:
            result = session.execute(
                delete(Document).where(
                    Document.collection_id == collection_id, Document.document_id == document_id
                )
            )
            return bool(getattr(result, "rowcount", 0))

    def unfinished_documents(self) -> builtins.list[tuple[str, DocumentRecord]]:
        """(store_name, document) for every document a crash left queued or half indexed."""
        with self._session() as session:
            rows = session.execute(
                select(Collection.store_name, Document)
                .join(Collection, Collection.id == Document.collection_id)
                .where(Document.status.in_(("queued", "indexing")))
            ).all()
            return [(store_name, _document(doc)) for store_name, doc in rows]

    # -- session memory --------------------------------------------------------------------------------------

    def add_turns(self, tenant: str, session_id: str, turns: builtins.list[tuple[str, str]]) -> None:
        with self._session() as session:
            for role, content in turns:
                session.add(
                    ChatTurn(
                        tenant=tenant, session_id=session_id, role=role, content=content, created_at=utcnow()
                    )
                )

    def recent_turns(self, tenant: str, session_id: str, limit: int = 20) -> builtins.list[tuple[str, str]]:
        """The last ``limit`` turns, oldest first."""
        with self._session() as session:
            rows = session.execute(
                select(ChatTurn.role, ChatTurn.content)
                .where(ChatTurn.tenant == tenant, ChatTurn.session_id == session_id)
                .order_by(ChatTurn.id.desc())
                .limit(limit)
            ).all()
            return [(role, content) for role, content in reversed(rows)]
