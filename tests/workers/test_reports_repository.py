"""The reports table through ReportRepository, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import Engine

from storage.db import make_session_factory
from storage.reports import ReportRecord, ReportRepository


@pytest.fixture
def repo(migrated_engine: Engine) -> ReportRepository:
    return ReportRepository(make_session_factory(migrated_engine))


def add(repo: ReportRepository, **overrides: Any) -> ReportRecord:
    values: dict[str, Any] = {
        "tenant": "t-alice",
        "ticker": "ACME",
        "period": "1y",
        "kind": "on_demand",
        "run_key": None,
        "as_of": "2026-06-30",
        "markdown": "# ACME report (2026-06-30)\n",
        "data": {
            "figures": {"last_close": 164.94, "sma_200": None},
            "bars": [{"close": 1.5}],
            "n": "fallback",
        },
        "model": "qwen2.5-coder-0.5b-instruct",
        "prompt_version": "stock_report.v1",
    }
    values.update(overrides)
    return repo.add(**values)


def test_add_and_get_round_trip(repo: ReportRepository) -> None:
    record = add(repo)
    assert len(record.id) == 36 and record.created_at.tzinfo is not None
    again = repo.get(record.id, "t-alice")
    assert again == record
    assert again is not None and again.data["figures"] == {"last_close": 164.94, "sma_200": None}


def test_another_tenant_cannot_read_it(repo: ReportRepository) -> None:
    record = add(repo)
    assert repo.get(record.id, "t-bob") is None
    assert repo.list("t-bob") == []
    assert repo.get("no-such-id", "t-alice") is None


def test_scheduled_reports_are_visible_to_every_tenant(repo: ReportRepository) -> None:
    scheduled = add(repo, tenant=None, kind="scheduled", run_key="daily:ACME:2026-06-30")
    mine = add(repo, tenant="t-alice")
    assert repo.get(scheduled.id, "t-bob") == scheduled
    assert [r.id for r in repo.list("t-bob")] == [scheduled.id]
    assert {r.id for r in repo.list("t-alice")} == {scheduled.id, mine.id}
    assert [r.id for r in repo.list(None)] == [scheduled.id]  # no tenant: the scheduled ones only


def test_list_is_newest_first_filtered_and_limited(repo: ReportRepository) -> None:
    ids = []
    for ticker in ("ACME", "WRLD", "ACME", "ACME"):
        ids.append(add(repo, ticker=ticker).id)
        time.sleep(0.01)
    assert [r.id for r in repo.list("t-alice")] == ids[::-1]
    assert [r.id for r in repo.list("t-alice", ticker="ACME")] == [ids[3], ids[2], ids[0]]
    assert [r.id for r in repo.list("t-alice", ticker="ACME", limit=2)] == [ids[3], ids[2]]
    assert repo.list("t-alice", ticker="NONE") == []


def test_a_run_key_is_stored_once(repo: ReportRepository) -> None:
    first = add(repo, tenant=None, kind="scheduled", run_key="daily:WRLD:2026-06-30")
    second = add(repo, tenant=None, kind="scheduled", run_key="daily:WRLD:2026-06-30", markdown="other")
    assert second == first
    assert repo.get_by_run_key("daily:WRLD:2026-06-30") == first
    assert repo.get_by_run_key("daily:WRLD:2026-07-01") is None
    assert len(repo.list(None)) == 1


def test_racing_writers_of_one_run_key_get_one_report(repo: ReportRepository) -> None:
    results: list[ReportRecord] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def write(i: int) -> None:
        start.wait()
        try:
            results.append(
                add(repo, tenant=None, kind="scheduled", run_key="daily:ACME:race", markdown=f"{i}")
            )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len({r.id for r in results}) == 1 and len(results) == 4


def test_unknown_kind_is_refused(repo: ReportRepository) -> None:
    with pytest.raises(ValueError):
        add(repo, kind="weekly")
