"""Error monitoring: every 5xx answer goes to Hearth's error log (``GET /v1/admin/errors``) and, when
``HEARTH_OBSERVABILITY__SENTRY_DSN`` is set and sentry-sdk is installed, to Sentry.

Recording happens off the event loop, in a background task, and never fails the request it describes.
Failed jobs are recorded by the workers themselves (:func:`workers.tasks.on_job_failure`).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import Any

from starlette.types import Scope

from api.logs import request_id_var
from configs.settings import ObservabilitySettings

log = logging.getLogger("hearth.monitoring")

_pending: set[asyncio.Task[None]] = set()
_sentry: Any = None  # the sentry_sdk module once init_sentry() ran with a DSN


def init_sentry(settings: ObservabilitySettings, release: str) -> bool:
    """``sentry_sdk.init`` when a DSN is set and the package is importable; whether it was."""
    global _sentry
    if not settings.sentry_dsn:
        return False
    try:
        sentry_sdk = importlib.import_module("sentry_sdk")
    except ImportError:
        log.warning(
            "HEARTH_OBSERVABILITY__SENTRY_DSN is set but sentry-sdk is not installed "
            "(pip install sentry-sdk); errors are recorded in the error log only"
        )
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.sentry_environment,
        traces_sample_rate=settings.sentry_traces_sample_rate,
        release=f"hearth@{release}",
        send_default_pii=False,
    )
    _sentry = sentry_sdk
    return True


def route_name(scope: Scope) -> str:
    """``<METHOD> <route template>``, e.g. ``POST /v1/collections/{name}/query``."""
    route = getattr(scope.get("route"), "path", None) or scope.get("path", "?")
    return f"{scope.get('method', '?')} {route}"


def record_error(scope: Scope, error_type: str, message: str, exc: BaseException | None = None) -> None:
    """Record a 5xx answer in the error log (in the background) and in Sentry when it is on."""
    if _sentry is not None and exc is not None:
        try:
            _sentry.capture_exception(exc)
        except Exception:
            log.debug("Sentry could not take an error", exc_info=True)
    app = scope.get("app")
    container = getattr(getattr(app, "state", None), "container", None)
    if container is None:
        return
    # an unhandled exception is answered outside the request log middleware, once its context var is reset
    name = route_name(scope)
    request_id = request_id_var.get() or scope.get("state", {}).get("request_id")

    async def write() -> None:
        try:
            await asyncio.to_thread(
                container.error_log.record, "route", name, error_type, message, request_id=request_id
            )
        except Exception:
            log.exception("could not record an error in the error log")

    try:
        task = asyncio.get_running_loop().create_task(write())
    except RuntimeError:  # no running loop: nothing to record with
        return
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def drain(timeout_s: float = 5.0) -> None:
    """Wait for the error records still being written (at shutdown)."""
    if _pending:
        await asyncio.wait(list(_pending), timeout=timeout_s)
