"""Job shapes: ``POST /v1/summaries/batch`` → 202 JobAccepted; ``GET /v1/jobs/{job_id}`` → JobOut."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

JobStatus = Literal["queued", "started", "finished", "failed"]


class JobAccepted(BaseModel):
    job_id: str
    object: Literal["job"] = "job"
    status: JobStatus
    items: int


class JobItemOut(BaseModel):
    item_id: str
    filename: str
    status: JobStatus
    progress: float
    attempts: int
    result: dict[str, Any] | None = None
    error: str | None = None


class JobOut(BaseModel):
    job_id: str
    object: Literal["job"] = "job"
    kind: str
    status: JobStatus
    progress: float
    created_at: datetime
    # per file, in upload order: the summary when it finished, the reason when it failed
    result: list[JobItemOut] | None = None
    error: str | None = None
    items: list[JobItemOut]
