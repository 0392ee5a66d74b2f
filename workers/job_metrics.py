"""Job durations as a Prometheus-style histogram kept in Redis, so every worker process adds to one.

The workers' RQ callbacks (:func:`workers.tasks.on_job_success`, :func:`workers.tasks.on_job_failure`) call
:func:`record_job_duration`; the API's ``/metrics`` reads the totals with :func:`read_job_durations`. The
hash ``hearth:metrics:jobs`` holds, per ``<queue>|<status>``, cumulative bucket counts (``le=<bound>``), the
count and the sum: counters that only grow, as Prometheus expects.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("hearth.workers.metrics")

KEY = "hearth:metrics:jobs"
BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


@dataclass
class JobDurations:
    buckets: dict[float, int] = field(default_factory=dict)  # upper bound -> cumulative count
    count: int = 0
    sum: float = 0.0


def job_seconds(started_at: datetime | None) -> float | None:
    if started_at is None:
        return None
    if started_at.tzinfo is None:
        started_at = started_at.replace(tzinfo=UTC)
    return max(0.0, (datetime.now(UTC) - started_at).total_seconds())


def record_job_duration(connection: Any, queue: str, status: str, seconds: float) -> None:
    """Add one job's duration; never raises (a metric is not worth failing a job for)."""
    prefix = f"{queue.removeprefix('hearth-')}|{status}|"  # RQ's hearth-summaries is the summaries queue
    try:
        pipe = connection.pipeline(transaction=False)
        for bound in BUCKETS:
            if seconds <= bound:
                pipe.hincrby(KEY, f"{prefix}le={bound}", 1)
        pipe.hincrby(KEY, f"{prefix}count", 1)
        pipe.hincrbyfloat(KEY, f"{prefix}sum", seconds)
        pipe.execute()
    except Exception as exc:
        log.warning("could not record a job duration: %s", exc)


def read_job_durations(connection: Any) -> dict[tuple[str, str], JobDurations]:
    """(queue, status) -> durations, from the hash the workers fill."""
    result: dict[tuple[str, str], JobDurations] = {}
    for raw_field, raw_value in connection.hgetall(KEY).items():
        name = raw_field.decode() if isinstance(raw_field, bytes) else raw_field
        value = raw_value.decode() if isinstance(raw_value, bytes) else raw_value
        queue, status, part = name.split("|", 2)
        entry = result.setdefault((queue, status), JobDurations())
        if part == "count":
            entry.count = int(value)
        elif part == "sum":
            entry.sum = float(value)
        elif part.startswith("le="):
            entry.buckets[float(part[3:])] = int(value)
    return result
