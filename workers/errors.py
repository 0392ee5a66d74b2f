"""Errors of the workers package (queues, jobs, schedules).

    WorkerError
    ├── QueueUnavailable      Redis does not answer: nothing can be enqueued now (503)
    ├── JobNotFound           no job with that id for this tenant (404)
    ├── InvalidBatch          an empty batch, too many files, a file that cannot be summarised (400/413/422)
    └── ScheduleError         configs/schedules.yaml is wrong (bad cron, unknown task, bad time zone)

redis-py and RQ errors are wrapped where they enter (``raise QueueUnavailable(...) from exc``); the API maps
each to a status code once (api/errors.py).
"""

from __future__ import annotations


class WorkerError(Exception):
    code = "worker_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class QueueUnavailable(WorkerError):
    code = "queue_unavailable"


class JobNotFound(WorkerError):
    code = "job_not_found"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"No job with id '{job_id}'", param="job_id")


class InvalidBatch(WorkerError):
    code = "invalid_batch"


class ScheduleError(WorkerError):
    code = "invalid_schedule"
