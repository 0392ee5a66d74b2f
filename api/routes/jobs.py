"""Background jobs: summary batches run by `hearth worker` processes, and their status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, UploadFile
from fastapi.responses import JSONResponse

from api.deps import JobServiceDep, PrincipalDep
from api.schemas.jobs import JobAccepted, JobItemOut, JobOut
from api.uploads import read_upload
from storage.jobs import JobRecord
from workers.jobs import Upload

router = APIRouter(tags=["jobs"])


def job_out(job: JobRecord) -> JobOut:
    items = [
        JobItemOut(
            item_id=item.id,
            filename=item.label,
            status=item.status,  # type: ignore[arg-type]
            progress=1.0 if item.status in ("finished", "failed") else item.progress,
            attempts=item.attempts,
            result=item.result if item.status == "finished" else None,
            error=item.error if item.status in ("failed", "queued") else None,
        )
        for item in job.items
    ]
    status = job.status
    failed = [item for item in job.items if item.status == "failed"]
    error = None
    if failed and status in ("finished", "failed"):
        error = "; ".join(f"{item.label}: {item.error}" for item in failed)
    return JobOut(
        job_id=job.id,
        kind=job.kind,
        status=status,  # type: ignore[arg-type]
        progress=job.progress,
        created_at=job.created_at,
        result=items if status in ("finished", "failed") else None,
        error=error,
        items=items,
    )


@router.post(
    "/v1/summaries/batch",
    status_code=202,
    response_model=JobAccepted,
    responses={
        400: {"description": "No files, or too many"},
        413: {"description": "A file is too large"},
        415: {"description": "A file is of an unsupported type"},
        422: {"description": "A file is unreadable (encrypted, corrupt, empty, no text)"},
        503: {"description": "The job queue (Redis) is unavailable: nothing was queued"},
    },
)
async def create_summary_batch(
    files: list[UploadFile],
    service: JobServiceDep,
    principal: PrincipalDep,
    language: Annotated[str | None, Form()] = None,
    max_words: Annotated[int | None, Form()] = None,
) -> JSONResponse:
    """Summarise several files in the background (multipart field ``files``, repeated): one job, one worker
    task per file. Every file is checked first; poll ``GET /v1/jobs/{job_id}`` for progress and results."""
    limit = int(service.max_file_mb * 1024 * 1024)
    setting = "HEARTH_SUMMARIES__MAX_FILE_MB"
    uploads = [
        Upload(file.filename or "upload.pdf", await read_upload(file, limit, setting=setting, param="files"))
        for file in files
    ]
    job = await service.submit_summary_batch(
        principal.tenant, uploads, language=language or None, max_words=max_words
    )
    body = JobAccepted(job_id=job.id, status="queued", items=len(job.items))
    return JSONResponse(body.model_dump(mode="json"), status_code=202)


@router.get("/v1/jobs/{job_id}", response_model=JobOut)
async def get_job(job_id: str, service: JobServiceDep, principal: PrincipalDep) -> JobOut:
    """A job's status (queued, started, finished, failed), progress from 0 to 1, and per-file results or
    errors. Another tenant's job is 404."""
    return job_out(await service.get(job_id, principal.tenant))
