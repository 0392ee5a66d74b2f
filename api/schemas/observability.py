"""Shapes of ``GET /v1/admin/errors`` and ``GET /v1/usage``."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from storage.error_log import ErrorRecord
from storage.usage import UsageRow


class ErrorOut(BaseModel):
    id: str
    source: str  # route | job
    name: str  # "<METHOD> <route template>" or the job's function
    request_id: str | None
    error_type: str
    message: str
    count: int
    first_seen: datetime
    last_seen: datetime

    @classmethod
    def of(cls, record: ErrorRecord) -> ErrorOut:
        return cls(**record.__dict__)


class ErrorList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ErrorOut]


class UsageOut(BaseModel):
    key: str  # the key's name
    key_id: str
    day: str  # YYYY-MM-DD, UTC
    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def of(cls, row: UsageRow) -> UsageOut:
        return cls(
            key=row.key,
            key_id=row.key_id,
            day=row.day,
            requests=row.requests,
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
            total_tokens=row.total_tokens,
        )


class UsageList(BaseModel):
    object: Literal["list"] = "list"
    data: list[UsageOut]
