"""``hearth worker``: an RQ worker process for Hearth's queues.

It does not fork per job (Hearth's services are worth keeping warm between jobs, see workers.runtime), so it
beats its own heartbeat while a job runs: when the process dies (SIGKILL, OOM, power), its job's entry in
RQ's started registry expires ``heartbeat_s`` later and the next maintenance pass of any other worker hands
the job to RQ's retry path (``AbandonedJobError``): it is requeued and finished elsewhere; nothing is lost.
Each worker also runs RQ's scheduler, which requeues retries when their backoff is over.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from rq import Queue
from rq.job import Job
from rq.worker import SimpleWorker, WorkerStatus

from configs.settings import WorkerSettings
from workers import runtime
from workers.queues import rq_name

log = logging.getLogger("hearth.workers.worker")


class HearthWorker(SimpleWorker):
    """A non-forking RQ worker that heartbeats during jobs, so a dead worker's job is noticed in seconds."""

    heartbeat_ttl: int = 15

    def get_heartbeat_ttl(self, job: Job) -> int:
        return self.heartbeat_ttl

    def execute_job(self, job: Job, queue: Queue) -> None:
        self.prepare_execution(job)
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(job, stop), name="hearth-heartbeat", daemon=True)
        beat.start()
        try:
            self.perform_job(job, queue)
        finally:
            stop.set()
            beat.join(5)
        self.set_state(WorkerStatus.IDLE)

    def _beat(self, job: Job, stop: threading.Event) -> None:
        while not stop.wait(self.job_monitoring_interval):
            try:
                if self.execution is not None:
                    self.maintain_heartbeats(job)
            except Exception as exc:  # Redis blinked: the next beat tries again
                log.warning("heartbeat for job %s failed: %s", job.id, exc)


def make_worker(
    connection: Any, settings: WorkerSettings, queues: Sequence[str], name: str | None = None
) -> HearthWorker:
    heartbeat = max(3, settings.heartbeat_s)
    worker = HearthWorker(
        [Queue(rq_name(q), connection=connection) for q in queues],
        name=name,
        connection=connection,
        default_result_ttl=settings.result_ttl_s,
        # an idle worker wakes this often to run maintenance (requeueing abandoned jobs)
        worker_ttl=heartbeat + 15,
        maintenance_interval=heartbeat,
        job_monitoring_interval=max(1, heartbeat // 3),
    )
    worker.heartbeat_ttl = heartbeat
    return worker


def run_worker(
    build: Callable[[], Awaitable[runtime.WorkerContainer]],
    settings: WorkerSettings,
    *,
    queues: Sequence[str] | None = None,
    burst: bool = False,
    name: str | None = None,
    connect: Callable[[runtime.WorkerContainer], Any],
) -> bool:
    """Build the worker's container, then work the queues until SIGTERM (or, with ``burst``, until empty).
    ``connect`` makes the synchronous Redis client RQ needs from the container."""
    rt = runtime.WorkerRuntime(build)
    rt.start()
    runtime.install(rt)
    try:
        worker = make_worker(connect(rt.container), settings, queues or settings.queues, name)
        log.info("worker %s on queues %s", worker.name, ", ".join(q.name for q in worker.queues))
        return bool(worker.work(burst=burst, with_scheduler=True, logging_level="INFO"))
    finally:
        runtime.install(None)
        rt.close()
