"""Stored summaries on SQLite and PostgreSQL: one per tenant, document and options; a duplicate save keeps
the first result."""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from storage.db import make_session_factory
from storage.summaries import SummaryRepository

SHA = "a" * 64
RESULT = {"title": "Report", "summary": "Ships came.", "key_points": ["one"], "sections": [], "pages": 3}


def test_save_get_and_keys(migrated_engine: Engine) -> None:
    repo = SummaryRepository(make_session_factory(migrated_engine))
    assert repo.get("t1", SHA, "auto|250|m|v1") is None
    saved = repo.save("t1", SHA, "auto|250|m|v1", "report.pdf", RESULT)
    assert saved.result == RESULT and saved.filename == "report.pdf"
    assert repo.get("t1", SHA, "auto|250|m|v1") == saved
    assert repo.get("t2", SHA, "auto|250|m|v1") is None  # per tenant
    assert repo.get("t1", SHA, "ko|250|m|v1") is None  # per options
    assert repo.get("t1", "b" * 64, "auto|250|m|v1") is None  # per document


def test_a_second_save_of_the_same_key_returns_the_first(migrated_engine: Engine) -> None:
    repo = SummaryRepository(make_session_factory(migrated_engine))
    first = repo.save("t1", SHA, "en|100|m|v1", "a.pdf", RESULT)
    second = repo.save("t1", SHA, "en|100|m|v1", "b.pdf", {**RESULT, "summary": "Other."})
    assert second == first and second.result["summary"] == "Ships came."


def test_concurrent_saves_agree(migrated_engine: Engine) -> None:
    repo = SummaryRepository(make_session_factory(migrated_engine))
    results: list[str] = []

    def save(i: int) -> None:
        results.append(repo.save("t9", SHA, "k", f"{i}.pdf", {**RESULT, "summary": str(i)}).id)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1
