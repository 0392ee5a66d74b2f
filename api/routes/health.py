"""Liveness and readiness (no auth: load balancers and orchestrators call these)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import ContainerDep
from storage.db import ping as ping_database

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready yet; the body says which dependency"}})
async def readyz(container: ContainerDep) -> JSONResponse:
    """Ready once the server can answer requests: the engine (when embedded) and the database answer.
    Redis is reported too; without it the API still serves (caching and queues degrade)."""
    checks: dict[str, Any] = {}
    if container.engine is not None:
        engine = await container.engine.health()
        checks["engine"] = engine
    else:
        checks["engine"] = {"status": "external"}
    try:
        await asyncio.wait_for(asyncio.to_thread(ping_database, container.db_engine), timeout=3)
        checks["database"] = {"status": "ok"}
    except Exception as exc:
        checks["database"] = {"status": "down", "error": str(exc)[:200]}
    redis_ok = await container.redis.ping()
    checks["redis"] = {"status": "ok" if redis_ok else "down", "embedded": container.redis.embedded}
    if redis_ok:  # background jobs: not needed to answer requests, reported for operators
        try:
            checks["jobs"] = await asyncio.wait_for(asyncio.to_thread(container.queue.status), timeout=3)
        except Exception as exc:
            checks["jobs"] = {"status": "unknown", "error": str(exc)[:200]}
    ready = checks["engine"]["status"] in ("ok", "external") and checks["database"]["status"] == "ok"
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks}, status_code=200 if ready else 503
    )
