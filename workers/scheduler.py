"""``hearth scheduler``: fires each schedule at its due time by enqueueing its jobs.

State lives in Redis, so schedulers are interchangeable and restartable:
- ``hearth:schedule:<name>:last`` is the latest due time that was fired;
- firing a due time takes ``hearth:schedule:<name>:<due>`` with SET NX first, so two schedulers (or a
  restart racing the old process) enqueue a due time once;
- the jobs themselves are idempotent per ticker and day (the report's run key), the last line of defence.

Catch-up: on start and on every tick, a schedule whose latest due time is later than its last fired one
fires that latest due time, once (a scheduler down for three days runs today's reports, not three days'
worth). With ``catch_up: false`` a due time missed by more than two poll intervals is skipped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis

from workers.errors import QueueUnavailable
from workers.queues import REPORTS, JobQueue
from workers.reports.language import default_language
from workers.schedules import Schedule, job_id_part

log = logging.getLogger("hearth.workers.scheduler")

LOCK_TTL_S = 7 * 24 * 3600


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Fired:
    schedule: str
    due: datetime
    job_ids: tuple[str, ...]


class Scheduler:
    def __init__(
        self,
        schedules: Sequence[Schedule],
        queue: JobQueue,
        *,
        poll_s: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._schedules = list(schedules)
        self._queue = queue
        self._redis: redis.Redis = queue.connection
        self._poll_s = poll_s
        self._clock = clock

    @property
    def schedules(self) -> list[Schedule]:
        return list(self._schedules)

    def _key(self, schedule: Schedule, suffix: str) -> str:
        return f"hearth:schedule:{schedule.name}:{suffix}"

    def last_fired(self, schedule: Schedule) -> datetime | None:
        raw = self._redis.get(self._key(schedule, "last"))
        if raw is None:
            return None
        return datetime.fromisoformat(raw.decode() if isinstance(raw, bytes) else str(raw))

    def tick(self) -> list[Fired]:
        """Fire every schedule whose latest due time has not been fired yet."""
        now = self._clock()
        fired: list[Fired] = []
        for schedule in self._schedules:
            due = schedule.last_due(now)
            last = self.last_fired(schedule)
            if last is not None and last >= due:
                continue
            if not schedule.catch_up and now - due > timedelta(seconds=2 * self._poll_s):
                log.info("schedule %s: skipping the missed run of %s (catch_up is off)", schedule.name, due)
                self._mark(schedule, due)
                continue
            result = self._fire(schedule, due)
            if result is not None:
                fired.append(result)
        return fired

    def _mark(self, schedule: Schedule, due: datetime) -> None:
        self._redis.set(self._key(schedule, "last"), due.isoformat())

    def _fire(self, schedule: Schedule, due: datetime) -> Fired | None:
        if not self._redis.set(self._key(schedule, due.isoformat()), "1", nx=True, ex=LOCK_TTL_S):
            log.info("schedule %s: the run of %s was already fired elsewhere", schedule.name, due)
            self._mark(schedule, due)
            return None
        day = schedule.run_day(due)
        job_ids = []
        try:
            for ticker in schedule.watchlist.tickers:
                language = default_language(ticker, schedule.language)
                job = self._queue.enqueue(
                    REPORTS,
                    "workers.tasks.generate_scheduled_report",
                    [ticker, day, language],
                    job_id=f"report-daily-{job_id_part(ticker)}-{language}-{day}",
                    description=f"daily report {ticker} {day}",
                )
                job_ids.append(job.id)
        except QueueUnavailable:
            # let the next tick fire it again (the reports are idempotent per ticker and day)
            self._redis.delete(self._key(schedule, due.isoformat()))
            raise
        self._mark(schedule, due)
        log.info("schedule %s: fired the run of %s (%d jobs)", schedule.name, due, len(job_ids))
        return Fired(schedule.name, due, tuple(job_ids))

    def seconds_to_next(self) -> float:
        now = self._clock()
        upcoming = min((s.next_run(now) for s in self._schedules), default=None)
        if upcoming is None:
            return self._poll_s
        return max(0.5, min(self._poll_s, (upcoming - now).total_seconds() + 0.5))

    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set; Redis failures are logged and retried at the next tick."""
        for schedule in self._schedules:
            log.info(
                "schedule %s (%s %s): next run %s",
                schedule.name,
                schedule.cron,
                schedule.timezone,
                schedule.next_run(self._clock()),
            )
        while not stop.is_set():
            try:
                self.tick()
            except (QueueUnavailable, redis.RedisError) as exc:
                log.error("scheduler tick failed, retrying in %.0fs: %s", self._poll_s, exc)
            stop.wait(self.seconds_to_next())
