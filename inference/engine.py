"""The embedded llama.cpp engines: ``python -m llama_cpp.server`` supervised as child processes.

:class:`EngineGroup` holds one :class:`EngineSupervisor` per served model (llama_cpp.server can list several
models in a config file, but its LlamaProxy keeps one loaded and reloads on every switch, which costs seconds
per request when two models take turns). Each supervisor starts its server on its own loopback port, waits
until it answers, restarts it with exponential backoff when it dies, and stops it (SIGTERM, then SIGKILL). The
child's output is appended to a log file whose tail is quoted in every :class:`~inference.errors.EngineError`.
On Linux the child is told to receive SIGTERM when its parent dies (``PR_SET_PDEATHSIG``), so it never
outlives Hearth, even a SIGKILLed Hearth. That signal follows the *thread* that spawned the child, so the
supervisor must live on an event loop whose thread lives as long as the engine should (the API's main loop).

Things about ``llama_cpp.server`` (0.3.36) that shape the command line:

* it serves one request at a time; every endpoint, ``/v1/models`` included, waits for the model lock, so a
  health probe would queue behind a long generation. :meth:`EngineSupervisor.health` therefore reports the
  supervisor's own view and never calls the engine.
* ``interrupt_requests`` (default on) ends a running stream as soon as any other request arrives: it is
  turned off, otherwise a concurrent request would silently truncate a stream.
* ``logits_all`` (default on) keeps n_ctx x n_vocab float32 logits (5 GB at n_ctx 8192 with Qwen's 152k
  vocabulary) and slows prompt processing: it is turned off, which makes ``logprobs`` requests fail.
* its settings are also read from unprefixed environment variables (``MODEL``, ``API_KEY``, ``HOST``,
  ``PORT``, ``N_GPU_LAYERS``, ``CONFIG_FILE`` ...), so those are removed from the child's environment.
* with no ``--chat_format`` it formats chats with the GGUF's own Jinja chat template.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from configs.processes import dies_with_parent
from configs.settings import EngineSettings
from inference.errors import EngineError

log = logging.getLogger("hearth.engine")

_POLL_INTERVAL_S = 0.25
_PROBE_TIMEOUT_S = 2.0
_STOP_TIMEOUT_S = 10.0
_LOG_TAIL_BYTES = 3000
# environment variables llama_cpp.server reads besides its settings' field names
_SERVER_ENV_EXTRA = frozenset({"host", "port", "config_file"})


class EngineSupervisor:
    """Runs and watches one ``llama_cpp.server`` child process; all methods run on one asyncio loop."""

    def __init__(self, settings: EngineSettings, model_path: Path, log_path: Path) -> None:
        self.settings = settings
        self.model_path = Path(model_path)
        self.log_path = Path(log_path)
        self._proc: asyncio.subprocess.Process | None = None
        self._monitor_task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._changed: asyncio.Condition | None = None
        self._ready = False
        self._stopping = False
        self._failure: EngineError | None = None
        self._restarts = 0
        self._log_offset = 0  # where the current child's output starts in the log file

    # --- state ----------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The engine's OpenAI-compatible base URL (``http://host:port/v1``)."""
        return self.settings.url

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    @property
    def restarts(self) -> int:
        return self._restarts

    async def health(self) -> dict[str, Any]:
        """``{"status": "ok"|"starting"|"down", "pid", "restarts", "url"}`` (no request to the engine)."""
        if self._ready and self.pid is not None:
            status = "ok"
        elif self._monitor_task is not None and not self._monitor_task.done() and not self._stopping:
            status = "starting"
        else:
            status = "down"
        return {"status": status, "pid": self.pid, "restarts": self._restarts, "url": self.url}

    # --- life cycle -----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Spawn the engine and its monitor; returns at once (see :meth:`wait_ready`)."""
        if self._monitor_task is not None and not self._monitor_task.done():
            raise EngineError("the engine is already running")
        if not self.model_path.is_file():
            raise EngineError(f"the engine's model file {self.model_path} does not exist")
        self._check_port_free()
        self._stopping = False
        self._failure = None
        self._ready = False
        self._restarts = 0
        self._changed = asyncio.Condition()
        self._client = httpx.AsyncClient(timeout=_PROBE_TIMEOUT_S, trust_env=False)
        self._proc = await self._spawn()
        self._monitor_task = asyncio.create_task(self._monitor(), name="hearth-engine-monitor")

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until the engine answers ``GET /v1/models`` (``timeout`` defaults to startup_timeout_s).

        Raises EngineError, with the tail of the engine's log, when the first start fails or time runs out.
        """
        if self._changed is None:
            raise EngineError("the engine was not started")
        limit = self.settings.startup_timeout_s if timeout is None else timeout
        changed = self._changed

        def settled() -> bool:
            return self._ready or self._failure is not None or self._monitor_task is None or self._stopping

        try:
            async with changed:
                await asyncio.wait_for(changed.wait_for(settled), limit)
        except TimeoutError:
            raise EngineError(
                f"the engine did not answer on {self.url} within {limit:g}s "
                f"(raise HEARTH_ENGINE__STARTUP_TIMEOUT_S if the model is just slow to load); "
                f"log {self.log_path}:\n{self._log_tail()}"
            ) from None
        if self._failure is not None:
            raise self._failure
        if not self._ready:
            raise EngineError("the engine was stopped before it became ready")

    async def stop(self) -> None:
        """Stop the monitor and the engine: SIGTERM, up to 10 s, then SIGKILL. Safe to call twice."""
        self._stopping = True
        task, self._monitor_task = self._monitor_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        proc = self._proc
        if proc is not None:
            await self._terminate(proc)
            self._proc = None
        await self._set_ready(False)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # --- internals ------------------------------------------------------------------------------------------

    def command(self) -> list[str]:
        """The child's command line."""
        threads = self.settings.n_threads or _cpu_count()
        return [
            sys.executable,
            "-u",
            "-m",
            "llama_cpp.server",
            "--model", str(self.model_path),
            "--model_alias", self.settings.served_name,
            "--host", self.settings.host,
            "--port", str(self.settings.port),
            "--n_ctx", str(self.settings.n_ctx),
            "--n_threads", str(threads),
            "--n_threads_batch", str(threads),
            "--n_batch", str(self.settings.n_batch),
            "--interrupt_requests", "false",
            "--logits_all", "false",
        ]  # fmt: skip

    async def _spawn(self) -> asyncio.subprocess.Process:
        command = dies_with_parent(self.command())
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            self._log_offset = log_file.tell()
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log_file.write(f"\n=== {stamp} hearth: starting {' '.join(command)}\n".encode())
            log_file.flush()
            try:
                proc = await asyncio.create_subprocess_exec(
                    *command,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    env=_child_env(),
                    # a Ctrl-C in the terminal is Hearth's to handle, not the engine's
                    start_new_session=True,
                )
            except OSError as exc:
                raise EngineError(f"cannot start the engine ({command[0]}): {exc}") from exc
        log.info("engine started: pid %d on %s (model %s)", proc.pid, self.url, self.model_path.name)
        return proc

    async def _monitor(self) -> None:
        backoff = self.settings.restart_backoff_s
        ever_ready = False
        proc = self._proc
        while True:
            ready_since: float | None = None
            if proc is not None:
                if await self._await_ready_or_exit(proc):
                    ready_since = time.monotonic()
                    ever_ready = True
                    await self._set_ready(True)
                    log.info("engine ready on %s (pid %d)", self.url, proc.pid)
                    await proc.wait()
                await self._set_ready(False)
            if self._stopping:
                return
            code = proc.returncode if proc is not None else None
            if not ever_ready:
                self._failure = EngineError(
                    f"the engine exited with code {code} before it was ready; log {self.log_path}:\n"
                    f"{self._log_tail()}"
                )
                log.error("%s", self._failure)
                await self._notify()
                return
            uptime = time.monotonic() - ready_since if ready_since is not None else 0.0
            if uptime >= self.settings.max_restart_backoff_s:
                backoff = self.settings.restart_backoff_s  # it had been up for a while: not a crash loop
            log.warning("engine exited with code %s; restarting in %.1fs", code, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.settings.max_restart_backoff_s)
            self._restarts += 1
            try:
                proc = self._proc = await self._spawn()
            except EngineError as exc:
                log.error("engine restart failed: %s", exc)
                proc = self._proc = None

    async def _await_ready_or_exit(self, proc: asyncio.subprocess.Process) -> bool:
        """Poll ``/v1/models`` until it answers 200 (True) or the process exits (False)."""
        assert self._client is not None
        exited = asyncio.ensure_future(proc.wait())
        try:
            while not exited.done():
                with contextlib.suppress(httpx.HTTPError):
                    response = await self._client.get(f"{self.url}/models")
                    if response.status_code == 200:
                        return True
                await asyncio.wait({exited}, timeout=_POLL_INTERVAL_S)
            return False
        finally:
            if not exited.done():
                exited.cancel()

    async def _terminate(self, proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), _STOP_TIMEOUT_S)
        except TimeoutError:
            log.warning("engine (pid %d) ignored SIGTERM for %gs; killing it", proc.pid, _STOP_TIMEOUT_S)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        log.info("engine stopped (pid %d, code %s)", proc.pid, proc.returncode)

    async def _set_ready(self, ready: bool) -> None:
        if self._ready != ready:
            self._ready = ready
            await self._notify()

    async def _notify(self) -> None:
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    def _check_port_free(self) -> None:
        host, port = self.settings.host, self.settings.port
        try:
            family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
            with socket.socket(family, kind, proto) as sock:
                # the same option uvicorn sets: a port left in TIME_WAIT by a previous engine is free
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                reason = "is already in use by another process"
            else:
                reason = f"cannot be bound ({exc})"
            raise EngineError(
                f"the {self.settings.served_name} engine's port {host}:{port} {reason}: set "
                f"HEARTH_ENGINE__PORT to a free port (the engines take it and the next ones; or give the "
                f"model its own port in engine.models), or HEARTH_ENGINE__HOST to a local address"
            ) from exc

    def _log_tail(self) -> str:
        try:
            with self.log_path.open("rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(self._log_offset, size - _LOG_TAIL_BYTES))
                return handle.read().decode("utf-8", errors="replace").strip()
        except OSError:
            return "(no log)"


class EngineGroup:
    """The embedded engines: one :class:`EngineSupervisor` per served model name, run together."""

    def __init__(self, supervisors: list[EngineSupervisor]) -> None:
        self.supervisors = {supervisor.settings.served_name: supervisor for supervisor in supervisors}

    def get(self, served_name: str) -> EngineSupervisor | None:
        """The engine that serves ``served_name`` (a deployment's upstream model name), if one does."""
        return self.supervisors.get(served_name)

    @property
    def ready(self) -> bool:
        return all(supervisor.ready for supervisor in self.supervisors.values())

    @property
    def restarts(self) -> int:
        return sum(supervisor.restarts for supervisor in self.supervisors.values())

    async def health(self) -> dict[str, Any]:
        """``{"status", "restarts", "engines": {served name: EngineSupervisor.health()}}``: ``ok`` once every
        engine is, ``down`` when any is, ``starting`` otherwise."""
        engines = {name: await supervisor.health() for name, supervisor in self.supervisors.items()}
        states = {engine["status"] for engine in engines.values()}
        status = "down" if "down" in states else "starting" if "starting" in states else "ok"
        return {"status": status, "restarts": self.restarts, "engines": engines}

    async def start(self) -> None:
        """Start every engine (they load side by side); if one cannot start, stop the others and raise."""
        try:
            for supervisor in self.supervisors.values():
                await supervisor.start()
        except BaseException:
            await self.stop()
            raise

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until every engine answers (see :meth:`EngineSupervisor.wait_ready`)."""
        await asyncio.gather(*(s.wait_ready(timeout) for s in self.supervisors.values()))

    async def stop(self) -> None:
        await asyncio.gather(*(supervisor.stop() for supervisor in self.supervisors.values()))


def _cpu_count() -> int:
    if hasattr(os, "sched_getaffinity"):  # the cores this process may use, not the host's
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def _child_env() -> dict[str, str]:
    """The parent's environment without the variables llama_cpp.server would take as its own settings."""
    try:
        from llama_cpp.server.settings import Settings as ServerSettings

        names = {name.lower() for name in ServerSettings.model_fields} | _SERVER_ENV_EXTRA
    except ImportError:  # pragma: no cover - llama_cpp[server] is a dependency
        names = set(_SERVER_ENV_EXTRA)
    return {key: value for key, value in os.environ.items() if key.lower() not in names}
