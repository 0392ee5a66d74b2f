"""The scheduler against a real Redis: fires each due time once, catches up once, two schedulers are safe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis
from rq import Queue

from configs.settings import WorkerSettings
from workers.queues import REPORTS, JobQueue, rq_name
from workers.scheduler import Scheduler
from workers.schedules import Schedule, Watchlist

DAILY = Schedule(
    name="daily",
    cron="10 0 * * *",
    timezone="Asia/Seoul",
    watchlist=Watchlist(stocks=["AAPL", "005930.KS"], etfs=["SPY"]),
)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def queued(client: redis.Redis) -> list[tuple[str, tuple[object, ...]]]:
    queue = Queue(rq_name(REPORTS), connection=client)
    return sorted((job.id, tuple(job.args)) for job in queue.get_jobs())


def test_fires_at_0010_kst_once_per_day(redis_client: redis.Redis) -> None:
    clock = Clock(datetime(2026, 11, 24, 15, 9, tzinfo=UTC))  # 00:09 KST on the 25th
    queue = JobQueue(redis_client, WorkerSettings())
    scheduler = Scheduler([DAILY], queue, clock=clock)
    first = scheduler.tick()  # start-up: catches up the 24th's run (missed: it never ran)
    assert [f.due.isoformat() for f in first] == ["2026-11-24T00:10:00+09:00"]
    assert scheduler.tick() == []  # nothing more until 00:10
    clock.now = datetime(2026, 11, 24, 15, 10, 5, tzinfo=UTC)
    (fired,) = scheduler.tick()
    assert fired.due.isoformat() == "2026-11-25T00:10:00+09:00"
    assert scheduler.tick() == []
    jobs = queued(redis_client)
    # each in its language: Korean for a Korean listing, English for the rest (the schedule's default)
    assert ("report-daily-005930_KS-ko-2026-11-25", ("005930.KS", "2026-11-25", "ko")) in jobs
    assert ("report-daily-SPY-en-2026-11-25", ("SPY", "2026-11-25", "en")) in jobs
    assert len(jobs) == 6  # three tickers, two days
    assert scheduler.last_fired(DAILY) == fired.due


def test_a_schedule_sets_its_reports_language(redis_client: redis.Redis) -> None:
    clock = Clock(datetime(2026, 11, 24, 15, 10, 1, tzinfo=UTC))
    english = DAILY.model_copy(update={"name": "daily-en", "language": "en"})
    Scheduler([english], JobQueue(redis_client, WorkerSettings()), clock=clock).tick()
    assert {args[2] for _, args in queued(redis_client)} == {"en"}


def test_two_schedulers_fire_a_due_time_once(redis_client: redis.Redis) -> None:
    clock = Clock(datetime(2026, 11, 24, 15, 10, 1, tzinfo=UTC))
    a = Scheduler([DAILY], JobQueue(redis_client, WorkerSettings()), clock=clock)
    b = Scheduler([DAILY], JobQueue(redis_client, WorkerSettings()), clock=clock)
    fired = a.tick() + b.tick() + a.tick()
    assert len(fired) == 1 and len(queued(redis_client)) == 3


def test_catch_up_runs_the_latest_missed_day_once(redis_client: redis.Redis) -> None:
    clock = Clock(datetime(2026, 11, 20, 15, 11, tzinfo=UTC))
    queue = JobQueue(redis_client, WorkerSettings())
    Scheduler([DAILY], queue, clock=clock).tick()  # ran on the 21st (KST)
    redis_client.delete(rq_name(REPORTS).join(["rq:queue:", ""]))
    clock.now += timedelta(days=3, hours=5)  # down for three days; back at 05:11 KST on the 24th
    fired = Scheduler([DAILY], queue, clock=clock).tick()
    assert [f.due.isoformat() for f in fired] == ["2026-11-24T00:10:00+09:00"]
    days = {args[1] for _, args in queued(redis_client)}
    assert "2026-11-22" not in days and "2026-11-23" not in days and "2026-11-24" in days


def test_without_catch_up_a_missed_run_is_skipped(redis_client: redis.Redis) -> None:
    schedule = DAILY.model_copy(update={"catch_up": False})
    clock = Clock(datetime(2026, 11, 24, 20, 0, tzinfo=UTC))  # 05:00 KST: 00:10 long past
    scheduler = Scheduler([schedule], JobQueue(redis_client, WorkerSettings()), clock=clock)
    assert scheduler.tick() == [] and queued(redis_client) == []
    clock.now = datetime(2026, 11, 25, 15, 10, 10, tzinfo=UTC)  # on time the next day
    assert len(scheduler.tick()) == 1


def test_seconds_to_next_wakes_at_the_due_time(redis_client: redis.Redis) -> None:
    clock = Clock(datetime(2026, 11, 24, 15, 9, 50, tzinfo=UTC))
    scheduler = Scheduler([DAILY], JobQueue(redis_client, WorkerSettings()), poll_s=30, clock=clock)
    assert 10 <= scheduler.seconds_to_next() <= 11
