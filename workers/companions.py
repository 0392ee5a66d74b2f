"""The embedded profile's background processes: ``hearth serve`` starts its own workers and scheduler.

``make run`` must give the whole service with one command, so in the embedded profile the API process runs
``workers.embedded`` ``hearth worker`` processes and, with ``scheduler.embedded``, one ``hearth scheduler``
as children: restarted with backoff when they exit, stopped (SIGTERM, then SIGKILL) when the API stops, and
told to stop by the kernel should the API die first (PR_SET_PDEATHSIG). Their output goes to
``<data_dir>/logs/<name>.log``. Docker compose and other deployments run them as services instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from configs.processes import dies_with_parent

log = logging.getLogger("hearth.workers.companions")

STOP_TIMEOUT_S = 20.0
MAX_BACKOFF_S = 60.0


@dataclass
class Companion:
    name: str
    args: list[str]
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class CompanionProcesses:
    def __init__(self, logs_dir: Path, *, workers: int, scheduler: bool) -> None:
        self._logs = logs_dir
        self._stopping = False
        self.companions = [
            Companion(f"worker-{n}", ["worker", "--name", f"embedded-{n}"]) for n in range(1, workers + 1)
        ]
        if scheduler:
            self.companions.append(Companion("scheduler", ["scheduler"]))

    async def start(self) -> None:
        self._logs.mkdir(parents=True, exist_ok=True)
        for companion in self.companions:
            companion.task = asyncio.create_task(self._keep(companion))

    def pids(self) -> dict[str, int | None]:
        return {
            c.name: c.proc.pid if c.proc is not None and c.proc.returncode is None else None
            for c in self.companions
        }

    async def _spawn(self, companion: Companion) -> asyncio.subprocess.Process:
        path = self._logs / f"{companion.name}.log"
        with path.open("ab") as out:
            out.write(
                f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} hearth: starting {companion.name}\n".encode()
            )
            out.flush()
            proc = await asyncio.create_subprocess_exec(
                *dies_with_parent([sys.executable, "-m", "api.cli", *companion.args]),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal is the API's to handle
            )
        log.info("%s started (pid %d), log %s", companion.name, proc.pid, path)
        return proc

    async def _keep(self, companion: Companion) -> None:
        backoff = 1.0
        while not self._stopping:
            started = time.monotonic()
            try:
                companion.proc = await self._spawn(companion)
            except OSError as exc:
                log.error("cannot start %s: %s", companion.name, exc)
            else:
                code = await companion.proc.wait()
                if self._stopping:
                    return
                log.warning("%s exited with code %s; restarting in %.0fs", companion.name, code, backoff)
            if time.monotonic() - started > MAX_BACKOFF_S:
                backoff = 1.0  # it had been up for a while: not a crash loop
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            companion.restarts += 1

    async def stop(self) -> None:
        self._stopping = True
        running = [c for c in self.companions if c.proc is not None and c.proc.returncode is None]
        for companion in running:
            assert companion.proc is not None
            with contextlib.suppress(ProcessLookupError):
                companion.proc.send_signal(signal.SIGTERM)  # a worker finishes its job first (warm shutdown)
        for companion in running:
            assert companion.proc is not None
            try:
                await asyncio.wait_for(companion.proc.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                log.warning("%s ignored SIGTERM for %gs; killing it", companion.name, STOP_TIMEOUT_S)
                with contextlib.suppress(ProcessLookupError):
                    companion.proc.kill()
                await companion.proc.wait()
        for companion in self.companions:
            if companion.task is not None:
                companion.task.cancel()
                with contextlib.suppress(BaseException):
                    await companion.task
