"""Client-visible jobs: a summary batch is one job with one RQ job per file.

``submit_summary_batch`` checks every file before anything is queued (a bad file is a 4xx for the whole
batch, not a failure discovered minutes later), saves each upload under ``<data_dir>/uploads/jobs`` for the
worker, records the job and its items in the database, then enqueues one ``workers.tasks.summarize_item``
per item. When Redis is down nothing is left behind: the job rows and saved files are removed and the
client gets 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from configs.settings import SummarySettings
from indexing.errors import InvalidSummaryOptions
from indexing.loaders import load_document
from indexing.summaries import MAX_WORDS, MIN_WORDS, language_option
from storage.jobs import JobRecord, JobRepository
from workers.errors import InvalidBatch, JobNotFound, QueueUnavailable
from workers.queues import SUMMARIES, JobQueue

log = logging.getLogger("hearth.workers.jobs")

SUMMARY_BATCH = "summary_batch"


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


def upload_path(uploads_dir: Path, item_id: str) -> Path:
    """Where a job item's upload waits for its worker (the API and the workers share the data dir)."""
    return uploads_dir / f"{item_id}.bin"


class JobService:
    def __init__(
        self,
        repository: JobRepository,
        queue: JobQueue,
        summaries: SummarySettings,
        uploads_dir: Path,
    ) -> None:
        self._repo = repository
        self._queue = queue
        self._summaries = summaries
        self._uploads = uploads_dir

    @property
    def max_file_mb(self) -> float:
        return self._summaries.max_file_mb

    async def submit_summary_batch(
        self,
        tenant: str,
        files: Sequence[Upload],
        *,
        language: str | None = None,
        max_words: int | None = None,
    ) -> JobRecord:
        if not files:
            raise InvalidBatch("the batch has no files: send one or more as multipart 'files'", param="files")
        if len(files) > self._summaries.batch_max_files:
            raise InvalidBatch(
                f"the batch has {len(files)} files, over the limit of {self._summaries.batch_max_files}: "
                "split it or raise HEARTH_SUMMARIES__BATCH_MAX_FILES",
                param="files",
            )
        # the options the worker will use, checked now (InvalidSummaryOptions, 400) rather than failing there
        language = language_option(language)
        if max_words is not None and not MIN_WORDS <= max_words <= MAX_WORDS:
            raise InvalidSummaryOptions(f"max_words must be {MIN_WORDS}-{MAX_WORDS}", param="max_words")
        max_bytes = int(self._summaries.max_file_mb * 1024 * 1024)
        for upload in files:  # every file is checked before anything is queued
            await asyncio.to_thread(self._check, upload, max_bytes)
        return await asyncio.to_thread(self._submit, tenant, files, language, max_words)

    @staticmethod
    def _check(upload: Upload, max_bytes: int) -> None:
        """Raise the DocumentError (413/415/422) that the worker would meet, now."""
        load_document(upload.data, upload.filename, max_bytes=max_bytes)

    def _submit(
        self, tenant: str, files: Sequence[Upload], language: str | None, max_words: int | None
    ) -> JobRecord:
        params = {"language": language, "max_words": max_words, "tenant": tenant}
        job = self._repo.create(
            tenant,
            SUMMARY_BATCH,
            [(upload.filename, {**params, "filename": upload.filename}) for upload in files],
        )
        self._uploads.mkdir(parents=True, exist_ok=True)
        paths = [self.upload_path(item.id) for item in job.items]
        try:
            for upload, path in zip(files, paths, strict=True):
                tmp = path.with_suffix(".part")
                tmp.write_bytes(upload.data)
                tmp.replace(path)
            for item in job.items:
                self._queue.enqueue(
                    SUMMARIES,
                    "workers.tasks.summarize_item",
                    [item.id],
                    job_id=item.id,
                    description=f"summary of {item.label}",
                )
        except (QueueUnavailable, OSError):
            # nothing half-queued: whatever was enqueued finds no item and does nothing
            self._repo.delete(job.id)
            for path in paths:
                with contextlib.suppress(OSError):
                    path.unlink()
            raise
        log.info("summary batch %s: %d files queued for tenant %s", job.id, len(files), tenant)
        return job

    def upload_path(self, item_id: str) -> Path:
        return upload_path(self._uploads, item_id)

    async def get(self, job_id: str, tenant: str) -> JobRecord:
        job = await asyncio.to_thread(self._repo.get, job_id, tenant)
        if job is None:
            raise JobNotFound(job_id)
        return job
