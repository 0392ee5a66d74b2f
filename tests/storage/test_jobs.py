"""Jobs, their items and the error log on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from storage.db import make_session_factory
from storage.error_log import ErrorLog
from storage.jobs import JobRepository


@pytest.fixture
def repo(migrated_engine: Engine) -> JobRepository:
    return JobRepository(make_session_factory(migrated_engine))


def test_job_lifecycle_and_aggregate_status(repo: JobRepository) -> None:
    job = repo.create("tenant-a", "summary_batch", [("a.pdf", {"x": 1}), ("b.pdf", {"x": 2})])
    assert [i.label for i in job.items] == ["a.pdf", "b.pdf"] and job.status == "queued"
    assert job.progress == 0.0
    assert repo.get(job.id, "tenant-b") is None  # another tenant sees nothing
    first, second = job.items
    repo.start(first.id)
    repo.progress(first.id, 0.5)
    now = repo.get(job.id, "tenant-a")
    assert now is not None and now.status == "started" and now.progress == 0.25
    assert now.items[0].attempts == 1
    repo.finish(first.id, {"title": "A"})
    repo.start(second.id)
    repo.fail(second.id, "boom", final=False)  # RQ will retry: back to queued, error kept
    now = repo.get(job.id)
    assert now is not None and now.items[1].status == "queued" and now.items[1].error == "boom"
    assert now.status == "started"
    repo.start(second.id)
    assert repo.item(second.id).attempts == 2  # type: ignore[union-attr]
    repo.fail(second.id, "boom again", final=True)
    done = repo.get(job.id)
    assert done is not None and done.status == "finished" and done.progress == 1.0
    assert done.items[0].result == {"title": "A"} and done.items[1].status == "failed"
    assert repo.tenant_of(first.id) == "tenant-a"


def test_all_failed_is_failed_and_delete(repo: JobRepository) -> None:
    job = repo.create("t", "summary_batch", [("a.pdf", {})])
    repo.start(job.items[0].id)
    repo.fail(job.items[0].id, "bad", final=True)
    assert repo.get(job.id).status == "failed"  # type: ignore[union-attr]
    repo.delete(job.id)
    assert repo.get(job.id) is None and repo.item(job.items[0].id) is None


def test_error_log_counts_the_same_failure_once(migrated_engine: Engine) -> None:
    errors = ErrorLog(make_session_factory(migrated_engine))
    for n in range(3):
        errors.record(
            "job", "workers.tasks.summarize_item", "TimeoutError", "engine timed out", request_id=f"r{n}"
        )
    errors.record("route", "POST /v1/chat/completions", "BackendUnavailable", "no engine")
    recent = errors.recent()
    assert [(e.source, e.count) for e in recent] == [("route", 1), ("job", 3)]
    assert recent[1].request_id == "r2" and recent[1].first_seen <= recent[1].last_seen
    assert [e.name for e in errors.recent(source="job")] == ["workers.tasks.summarize_item"]
