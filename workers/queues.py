"""RQ queues on Hearth's Redis: what is enqueued where, with which timeout, retries and TTLs.

Every job gets the same policy from :class:`~configs.settings.WorkerSettings`: a timeout, ``max_retries``
retries with the ``retry_backoff_s`` intervals (RQ's scheduler, run by each worker, requeues them), results
kept ``result_ttl_s``, failures kept in RQ's failed registry, and :func:`workers.tasks.on_job_failure` as the
failure callback that records the failure in Hearth's database.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import redis
from rq import Callback, Queue, Retry, Worker
from rq.job import Job

from configs.settings import WorkerSettings
from workers.errors import QueueUnavailable

log = logging.getLogger("hearth.workers.queues")

REPORTS = "reports"
SUMMARIES = "summaries"
QUEUE_PREFIX = "hearth"  # RQ queue names are hearth-reports, hearth-summaries


def rq_name(queue: str) -> str:
    return f"{QUEUE_PREFIX}-{queue}"


class JobQueue:
    """Enqueues Hearth's tasks; QueueUnavailable (503) when Redis does not answer."""

    def __init__(self, connection: redis.Redis, settings: WorkerSettings) -> None:
        self._redis = connection
        self._settings = settings

    @property
    def connection(self) -> redis.Redis:
        return self._redis

    def queue(self, name: str) -> Queue:
        return Queue(rq_name(name), connection=self._redis)

    def enqueue(
        self,
        queue: str,
        func: str,
        args: Sequence[Any],
        *,
        job_id: str | None = None,
        description: str | None = None,
    ) -> Job:
        """Enqueue ``func`` (a dotted path to a top-level function in workers.tasks) with JSON-able args."""
        settings = self._settings
        try:
            return self.queue(queue).enqueue_call(
                func,
                args=tuple(args),
                job_id=job_id,
                description=description,
                timeout=settings.job_timeout_s,
                result_ttl=settings.result_ttl_s,
                failure_ttl=settings.result_ttl_s,
                retry=Retry(max=settings.max_retries, interval=list(settings.retry_backoff_s))
                if settings.max_retries > 0
                else None,
                on_failure=Callback("workers.tasks.on_job_failure"),
                on_success=Callback("workers.tasks.on_job_success"),
            )
        except redis.RedisError as exc:
            raise QueueUnavailable(
                f"the job queue (Redis) is unavailable, nothing was queued: {exc}; try again shortly"
            ) from exc

    def depth(self, queue: str) -> int:
        try:
            return len(self.queue(queue))
        except redis.RedisError as exc:
            raise QueueUnavailable(f"the job queue (Redis) is unavailable: {exc}") from exc

    def status(self, queues: Sequence[str] = (REPORTS, SUMMARIES)) -> dict[str, Any]:
        """Workers listening and jobs waiting, per queue (for /readyz and operators)."""
        try:
            return {
                "workers": Worker.count(connection=self._redis),
                "queued": {name: len(self.queue(name)) for name in queues},
                "failed": {name: self.queue(name).failed_job_registry.count for name in queues},
            }
        except redis.RedisError as exc:
            raise QueueUnavailable(f"the job queue (Redis) is unavailable: {exc}") from exc
