"""The worker process's long-lived state: its container and the event loop its async services run on.

RQ tasks are plain functions; Hearth's services (the gateway, summaries, reports) are async and hold
connections, token counters and model clients worth keeping between jobs. ``hearth worker`` therefore
uses a non-forking worker and builds one container, on an event loop in a background thread, that every
task reaches through :func:`current` and runs coroutines on with :meth:`WorkerRuntime.run`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol, TypeVar

from configs.settings import Settings
from storage.error_log import ErrorLog

T = TypeVar("T")


class WorkerContainer(Protocol):
    """What tasks need from the composition root (api.container.Container satisfies it)."""

    settings: Settings
    error_log: ErrorLog
    session_factory: Any
    summaries: Any
    reports: Any

    async def aclose(self) -> None: ...


class WorkerRuntime:
    def __init__(self, build: Callable[[], Awaitable[WorkerContainer]]) -> None:
        self._build = build
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="hearth-worker-loop", daemon=True)
        self._container: WorkerContainer | None = None

    @property
    def container(self) -> WorkerContainer:
        if self._container is None:
            raise RuntimeError("the worker runtime has not been started")
        return self._container

    @property
    def uploads_dir(self) -> Path:
        return job_uploads_dir(self.container.settings)

    def start(self) -> None:
        self._thread.start()
        self._container = self.run(self._build())

    def run(self, awaitable: Awaitable[T], timeout: float | None = None) -> T:
        """Run a coroutine on the runtime's loop and wait for it; a job timeout (raised into this thread
        by RQ's SIGALRM death penalty) cancels it."""

        async def wrap() -> T:
            return await awaitable

        coro: Coroutine[Any, Any, T] = wrap()
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()
            raise

    def close(self) -> None:
        try:
            if self._container is not None:
                self.run(self._container.aclose(), timeout=60)
        except (Exception, concurrent.futures.TimeoutError):
            pass
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


def job_uploads_dir(settings: Settings) -> Path:
    return settings.data_dir / "uploads" / "jobs"


_current: WorkerRuntime | None = None


def install(runtime: WorkerRuntime | None) -> None:
    global _current
    _current = runtime


def current() -> WorkerRuntime:
    """The runtime of this worker process; RuntimeError outside ``hearth worker``."""
    if _current is None:
        raise RuntimeError("Hearth tasks run inside `hearth worker` (no worker runtime in this process)")
    return _current
