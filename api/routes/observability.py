"""Operations: ``GET /metrics`` (Prometheus, no auth), ``GET /v1/usage``, ``GET /v1/admin/errors``."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import AdminDep, ContainerDep, PrincipalDep
from api.errors import ApiError
from api.metrics import Metrics
from api.schemas.observability import ErrorList, ErrorOut, UsageList, UsageOut

router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def get_metrics(request: Request, container: ContainerDep) -> Response:
    """Prometheus metrics in the text exposition format: requests, latencies, tokens, cache, queues and
    the health of the engine, Redis and the database."""
    metrics: Metrics | None = getattr(request.app.state, "metrics", None)
    if metrics is None:
        raise ApiError(404, "Metrics are disabled (HEARTH_OBSERVABILITY__METRICS_ENABLED)", code="not_found")
    await metrics.refresh(container)
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/usage", response_model=UsageList)
async def get_usage(
    container: ContainerDep,
    principal: PrincipalDep,
    key: Annotated[str | None, Query(description="Only this key (its name or id)")] = None,
    days: Annotated[int, Query(ge=1, le=366, description="Days back, today (UTC) included")] = 7,
) -> UsageList:
    """Requests and tokens per API key per day (UTC), newest day first. A user key sees the keys of its
    own tenant; an admin key sees every key."""
    if container.usage is None:
        raise ApiError(404, "Usage counting is off (HEARTH_OBSERVABILITY__USAGE_ENABLED)", code="not_found")
    tenant = None if principal.is_admin else principal.tenant
    rows = await container.usage.query(min(days, container.usage.retention_days), tenant=tenant, key=key)
    return UsageList(data=[UsageOut.of(row) for row in rows])


@router.get("/v1/admin/errors", response_model=ErrorList)
async def list_errors(
    container: ContainerDep,
    admin: AdminDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    source: Annotated[Literal["route", "job"] | None, Query(description="route or job")] = None,
) -> ErrorList:
    """Recent errors, newest first (admin keys only): every 5xx answer and every failed job, one row per
    kind of failure with its count, its latest request id and when it was first and last seen."""
    records = await asyncio.to_thread(container.error_log.recent, limit, source)
    return ErrorList(data=[ErrorOut.of(record) for record in records])
