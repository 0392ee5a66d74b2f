"""Starting real Hearth servers (``hearth serve`` as a child process) for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
TEST_HOME = ROOT / ".hearth-test"
MODELS_DIR = TEST_HOME / "models"  # the bundled GGUF is assembled once and shared by every test server
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "TOKENIZERS_PARALLELISM": "false",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# the embedded default as shipped: the 1.5B serves `default` (the test profile runs the 0.5B only)
LARGE = {"HEARTH_ENGINE__LARGE": "true"}


def base_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    env.update(OFFLINE_ENV)
    env.update(
        {
            "HEARTH_PROFILES": "test",
            "HEARTH_DATA_DIR": str(data_dir),
            "HEARTH_ENGINE__MODELS_DIR": str(MODELS_DIR),
            "HEARTH_SERVER__LOG_LEVEL": "info",
        }
    )
    env.update(extra)
    return env


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    api_key: str

    @property
    def v1(self) -> str:
        return f"{self.base_url}/v1"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 30) -> int:
        return stop_process(self.proc, timeout)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return int(proc.returncode)


def start_server(
    data_dir: Path,
    *,
    api_key: str = "sk-test-user-key-0001",
    env: Mapping[str, str] | None = None,
    ready_timeout: float = 240,
    wait_ready: bool = True,
) -> ServerProcess:
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    full_env = base_env(data_dir, **{"HEARTH_API_KEYS": api_key, **dict(env or {})})
    full_env.setdefault("HEARTH_ENGINE__PORT", str(free_port()))
    log_path = data_dir / "server.log"
    log_file = log_path.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=full_env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    server = ServerProcess(proc, f"http://127.0.0.1:{port}", log_path, api_key)
    if wait_ready:
        wait_until_ready(server, ready_timeout)
    return server


def wait_until_ready(server: ServerProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"hearth serve exited with {server.proc.returncode}:\n{server.log()[-4000:]}")
        try:
            response = httpx.get(f"{server.base_url}/readyz", timeout=2)
            if response.status_code == 200:
                return
            last = response.text
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"hearth serve was not ready in {timeout}s ({last}):\n{server.log()[-4000:]}")


def children_of(pid: int) -> list[int]:
    """Direct child pids (Linux /proc)."""
    try:
        out = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in out.split()]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
