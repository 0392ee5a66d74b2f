"""Peer tests: Hearth with real third-party servers and clients (vLLM's OpenAI server on CPU, Open WebUI,
LangChain, LlamaIndex). The servers live in their own virtual environments under .venv-peers, installed by
``scripts/peers.sh`` (``make peers``); ``make test-peers`` installs them and runs this folder.

Without the peers installed these tests are skipped, unless HEARTH_PEERS=1 (``make test-peers``, CI), where a
missing peer is a failure.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.peers.vllm_args import shared_args
from tests.support import LARGE, OFFLINE_ENV, ROOT, ServerProcess, free_port, start_server, stop_process

PEERS = ROOT / ".venv-peers"
VLLM_MODEL = ROOT / ".hearth-test" / "vllm-model"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.peers)
            item.add_marker(pytest.mark.slow)


def peer_python(name: str) -> Path:
    """The python of the peer's venv; skip (or, with HEARTH_PEERS=1, fail) when it is not installed."""
    python = PEERS / name / "bin" / "python"
    if not (PEERS / name / ".hearth-installed").is_file() or not python.exists():
        message = f"{name} is not installed in {PEERS / name}: run `make peers`"
        if os.environ.get("HEARTH_PEERS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return python


def tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {proc.returncode}:\n{tail(log)}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s:\n{tail(log)}")


class VllmServer:
    """The real vLLM OpenAI server (CPU build) on a loopback port; :meth:`start` again after a kill."""

    def __init__(self, python: Path, workdir: Path) -> None:
        self.python = python
        self.workdir = workdir
        self.port = free_port()
        self.log = workdir / "vllm.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            str(self.python),
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(VLLM_MODEL),
            *shared_args(),
            "--dtype",
            "bfloat16",
            "--enforce-eager",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HEARTH_", "VLLM_"))}
        venv = self.python.parent.parent
        env.update(OFFLINE_ENV)
        env.update(
            {
                "VLLM_CPU_KVCACHE_SPACE": "2",
                "VLLM_CPU_OMP_THREADS_BIND": f"0-{max(0, (os.cpu_count() or 1) - 1)}",
                "VLLM_CACHE_ROOT": str(self.workdir / "vllm-cache"),
                "VLLM_NO_USAGE_STATS": "1",
                "DO_NOT_TRACK": "1",
                "LD_PRELOAD": str(venv / "lib" / "libiomp5.so"),
            }
        )
        return env

    def start(self, timeout: float = 400) -> None:
        with self.log.open("ab") as out:
            # its own process group: vLLM runs its engine core and worker as child processes (renamed
            # VLLM::EngineCore, VLLM::Worker), which a kill of the server alone would orphan
            self.proc = subprocess.Popen(
                self.command(),
                cwd=self.workdir,
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_http(f"{self.base_url}/health", self.proc, self.log, timeout)

    def kill(self) -> None:
        """SIGKILL the server and its engine processes at once (a crash)."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is None:
            return
        stop_process(self.proc, 60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever of the group is left


@pytest.fixture(scope="session")
def vllm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    python = peer_python("vllm")
    if not (VLLM_MODEL / "model.safetensors").is_file():
        pytest.fail(f"{VLLM_MODEL} is missing: run `make peers`")
    server = VllmServer(python, tmp_path_factory.mktemp("vllm"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def hearth_vllm(vllm: VllmServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Hearth with the test and vllm profiles: the chat model has two deployments, the embedded llama.cpp
    engine and the real vLLM server."""
    env = {
        "HEARTH_PROFILES": "test,vllm",
        "VLLM_API_BASE": f"{vllm.base_url}/v1",
        "HEARTH_CACHE__ENABLED": "false",  # every request must reach a model
    }
    server = start_server(tmp_path_factory.mktemp("hearth-vllm") / "data", env=env)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def hearth_plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Hearth in the test profile (the embedded engine only), with the sample manual in ``manual`` for the
    ``manual-qa`` assistant: the server Open WebUI and the client libraries talk to."""
    server = start_server(tmp_path_factory.mktemp("hearth-plain") / "data", env=LARGE)
    headers = {"authorization": f"Bearer {server.api_key}"}
    with httpx.Client(base_url=server.v1, headers=headers, timeout=600) as http:
        http.post("/collections", json={"name": "manual"}).raise_for_status()
        for path in sorted((ROOT / "examples" / "manual").glob("manual-*.md")):
            files = {"file": (path.name, path.read_bytes())}
            http.post("/collections/manual/documents", files=files).raise_for_status()
    yield server
    server.stop()
