"""Collections, documents and session memory on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from storage.collections import CollectionExists, CollectionRepository
from storage.db import make_session_factory


@pytest.fixture
def repo(migrated_engine: Engine) -> CollectionRepository:
    return CollectionRepository(make_session_factory(migrated_engine))


def test_collections_are_per_tenant(repo: CollectionRepository) -> None:
    a = repo.create("tenant-a", "manual", "the manual", "multilingual-e5-small")
    assert a.store_name.startswith("c_") and a.content_version == 0
    with pytest.raises(CollectionExists):
        repo.create("tenant-a", "manual", None, "multilingual-e5-small")
    b = repo.create("tenant-b", "manual", None, "all-minilm-l6-v2")
    assert b.id != a.id and b.store_name != a.store_name
    assert repo.get("tenant-a", "manual") == a
    assert repo.get("tenant-c", "manual") is None
    assert [c.name for c in repo.list("tenant-b")] == ["manual"]


def test_documents_dedup_status_and_delete(repo: CollectionRepository) -> None:
    collection = repo.create("t", "docs", None, "multilingual-e5-small")
    doc, created = repo.add_document(collection.id, "a" * 64, "a.pdf", "pdf", 1000, 3)
    assert created and doc.status == "queued"
    again, created = repo.add_document(collection.id, "a" * 64, "copy.pdf", "pdf", 1000, 3)
    assert not created and again.id == doc.id
    repo.update_document(collection.id, "a" * 64, status="failed", error="boom")
    retried, created = repo.add_document(collection.id, "a" * 64, "a.pdf", "pdf", 1000, 3)
    assert created and retried.status == "queued" and retried.error is None  # a failed upload may be retried
    repo.update_document(collection.id, "a" * 64, status="indexing")
    assert [(store, d.document_id) for store, d in repo.unfinished_documents()] == [
        (collection.store_name, "a" * 64)
    ]
    repo.update_document(collection.id, "a" * 64, status="indexed", chunks=12, progress=1.0)
    assert repo.get("t", "docs").documents == 1  # type: ignore[union-attr]
    assert repo.unfinished_documents() == []
    repo.bump_version(collection.id)
    assert repo.get("t", "docs").content_version == 1  # type: ignore[union-attr]
    assert repo.delete_document(collection.id, "a" * 64)
    assert not repo.delete_document(collection.id, "a" * 64)
    repo.add_document(collection.id, "b" * 64, "b.txt", "txt", 10, 1)
    repo.delete(collection.id)
    assert repo.get("t", "docs") is None and repo.list_documents(collection.id) == []


def test_session_memory_keeps_order_per_tenant(repo: CollectionRepository) -> None:
    repo.add_turns("t1", "s", [("user", "q1"), ("assistant", "a1")])
    repo.add_turns("t1", "s", [("user", "q2"), ("assistant", "a2")])
    repo.add_turns("t2", "s", [("user", "other tenant")])
    assert repo.recent_turns("t1", "s") == [
        ("user", "q1"),
        ("assistant", "a1"),
        ("user", "q2"),
        ("assistant", "a2"),
    ]
    assert repo.recent_turns("t1", "s", limit=2) == [("user", "q2"), ("assistant", "a2")]
    assert repo.recent_turns("t2", "s") == [("user", "other tenant")]
