"""RQ tasks: top-level functions taking ids and plain values, safe to run twice.

- ``summarize_item(item_id)``: one file of a summary batch. A finished item is not redone; the summary
  service reuses a stored summary of the same bytes, so a retry after a crash costs little.
- ``generate_scheduled_report(ticker, day, language)``: one watchlist report, idempotent per ticker,
  language and day through its run key (``daily:<TICKER>:<ko|en>:<YYYY-MM-DD>``): a rerun, a retry or a
  second scheduler finds the report already stored and writes nothing.
- ``on_job_success``: RQ's success callback: the job's duration, for /metrics.
- ``on_job_failure``: RQ's failure callback (also for jobs abandoned by a killed worker): records the
  attempt on the job item and, when no retry is left, in Hearth's error log.
"""

from __future__ import annotations

import contextlib
import logging
from types import TracebackType
from typing import Any

from rq.job import Job

from storage.jobs import JobRepository
from workers import runtime
from workers.job_metrics import job_seconds, record_job_duration
from workers.jobs import upload_path
from workers.reports.language import default_language

log = logging.getLogger("hearth.workers.tasks")


def summarize_item(item_id: str) -> dict[str, Any]:
    rt = runtime.current()
    repo = JobRepository(rt.container.session_factory)
    item = repo.item(item_id)
    if item is None:  # its batch was rolled back (Redis failed midway through enqueueing)
        log.warning("summary item %s does not exist: nothing to do", item_id)
        return {"item_id": item_id, "skipped": True}
    if item.status == "finished" and item.result is not None:
        return {"item_id": item_id, "title": item.result.get("title")}
    repo.start(item_id)
    path = upload_path(rt.uploads_dir, item_id)
    data = path.read_bytes()
    params = item.params
    result = rt.run(
        rt.container.summaries.summarize(
            data,
            params.get("filename") or item.label,
            tenant=params["tenant"],
            language=params.get("language"),
            max_words=params.get("max_words"),
            progress=lambda fraction: repo.progress(item_id, fraction),
        )
    )
    payload: dict[str, Any] = result.model_dump(mode="json")
    payload["cached"] = bool(getattr(result, "cached", False))  # the stored summary of the same bytes
    repo.finish(item_id, payload)
    with contextlib.suppress(OSError):
        path.unlink()
    return {"item_id": item_id, "title": payload.get("title")}


def generate_scheduled_report(ticker: str, day: str, language: str | None = None) -> dict[str, Any]:
    """One watchlist report in ``language`` (ko or en; None: the configured default for the ticker)."""
    rt = runtime.current()
    lang = default_language(ticker, language or rt.container.settings.market.report_language)
    report = rt.run(
        rt.container.reports.generate(
            ticker, tenant=None, run_key=f"daily:{ticker}:{lang}:{day}", kind="scheduled", language=lang
        )
    )
    return {"report_id": report.id, "ticker": ticker, "day": day, "language": lang}


def on_job_success(job: Job, connection: Any, result: Any, *args: Any, **kwargs: Any) -> None:
    """RQ's success callback: the job's duration goes to the histogram /metrics shows."""
    seconds = job_seconds(job.started_at)
    if seconds is not None:
        record_job_duration(connection, job.origin, "finished", seconds)


def on_job_failure(
    job: Job,
    connection: Any,
    error_type: type[BaseException],
    value: BaseException,
    traceback: TracebackType | Any,
) -> None:
    final = not (job.retries_left and job.retries_left > 0)
    seconds = job_seconds(job.started_at)
    if seconds is not None:
        record_job_duration(connection, job.origin, "failed", seconds)
    message = f"{error_type.__name__}: {value}" if str(value) else error_type.__name__
    log.error(
        "job %s (%s) failed%s: %s",
        job.id,
        job.func_name,
        "" if final else f", {job.retries_left} retries left",
        message,
    )
    try:
        rt = runtime.current()
    except RuntimeError:
        return
    if job.func_name == "workers.tasks.summarize_item":
        repo = JobRepository(rt.container.session_factory)
        repo.fail(job.id, message, final=final)
        if final:
            with contextlib.suppress(OSError):
                upload_path(rt.uploads_dir, job.id).unlink()
    if final:
        rt.container.error_log.record(
            "job", job.func_name or "unknown", error_type.__name__, str(value), request_id=job.id
        )
