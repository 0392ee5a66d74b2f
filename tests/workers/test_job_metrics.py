"""Job durations: RQ's success callback adds each job to the histogram in Redis that /metrics reads."""

from __future__ import annotations

import redis
from rq import SimpleWorker

from configs.settings import WorkerSettings
from workers.job_metrics import read_job_durations, record_job_duration
from workers.queues import JobQueue


def test_a_finished_job_lands_in_the_duration_histogram(redis_client: redis.Redis) -> None:
    queue = JobQueue(redis_client, WorkerSettings(max_retries=0))
    queue.enqueue("summaries", "os.getpid", [])
    SimpleWorker([queue.queue("summaries")], connection=redis_client).work(burst=True)
    durations = read_job_durations(redis_client)[("summaries", "finished")]
    assert durations.count == 1 and durations.sum >= 0
    assert durations.buckets[1800.0] == 1


def test_buckets_are_cumulative(redis_client: redis.Redis) -> None:
    for seconds in (0.2, 3.0, 3.0, 5000.0):
        record_job_duration(redis_client, "hearth-reports", "failed", seconds)
    durations = read_job_durations(redis_client)[("reports", "failed")]
    assert durations.count == 4 and abs(durations.sum - 5006.2) < 1e-6
    assert (durations.buckets[0.5], durations.buckets[5.0], durations.buckets[1800.0]) == (1, 3, 3)


def test_recording_never_raises_without_redis() -> None:
    record_job_duration(redis.Redis(port=1, socket_connect_timeout=0.1), "reports", "finished", 1.0)
