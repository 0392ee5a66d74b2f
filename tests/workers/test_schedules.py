"""Schedules are read in their own time zone: the daily run is at 00:10 Asia/Seoul (15:10 UTC)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from configs.settings import load_settings
from workers.errors import ScheduleError
from workers.schedules import Schedule, job_id_part, load_schedules

KST_DAILY = Schedule(name="daily", cron="10 0 * * *", timezone="Asia/Seoul")


def test_the_shipped_schedule_runs_the_watchlist_at_0010_kst() -> None:
    (schedule,) = load_schedules(load_settings().schedules_path)
    assert schedule.task == "stock_reports" and schedule.timezone == "Asia/Seoul"
    assert schedule.watchlist.tickers  # stocks and ETFs
    nxt = schedule.next_run(datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    assert nxt.isoformat() == "2026-11-25T00:10:00+09:00"
    assert nxt.astimezone(UTC) == datetime(2026, 11, 24, 15, 10, tzinfo=UTC)  # not 00:10 UTC


@pytest.mark.parametrize(
    ("now_utc", "due_kst", "day"),
    [
        (datetime(2026, 11, 24, 15, 9, 59, tzinfo=UTC), "2026-11-24T00:10:00+09:00", "2026-11-24"),
        (datetime(2026, 11, 24, 15, 10, 0, tzinfo=UTC), "2026-11-25T00:10:00+09:00", "2026-11-25"),
        (datetime(2026, 11, 25, 3, 0, 0, tzinfo=UTC), "2026-11-25T00:10:00+09:00", "2026-11-25"),
    ],
)
def test_last_due_is_inclusive_and_the_day_is_korean(now_utc: datetime, due_kst: str, day: str) -> None:
    due = KST_DAILY.last_due(now_utc)
    assert due.isoformat() == due_kst
    assert KST_DAILY.run_day(due) == day
    assert KST_DAILY.next_run(due) > due


def test_bad_schedules_fail_with_a_message(tmp_path: Path) -> None:
    bad_cron = tmp_path / "a.yaml"
    bad_cron.write_text("schedules:\n  - {name: x, cron: 'every day'}\n")
    with pytest.raises(ScheduleError, match="cron"):
        load_schedules(bad_cron)
    bad_tz = tmp_path / "b.yaml"
    bad_tz.write_text("schedules:\n  - {name: x, cron: '10 0 * * *', timezone: Mars/Olympus}\n")
    with pytest.raises(ScheduleError, match="time zone"):
        load_schedules(bad_tz)
    with pytest.raises(ScheduleError, match="SCHEDULES_FILE"):
        load_schedules(tmp_path / "missing.yaml")


def test_job_ids_accept_any_ticker() -> None:
    assert job_id_part("005930.KS") == "005930_KS" and job_id_part("^GSPC") == "_GSPC"
