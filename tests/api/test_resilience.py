"""Failover through LiteLLM's Router with real dead and live deployments, the engine supervisor under fire,
and shutdown leaving no process behind. No fakes: the live deployment is the real llama.cpp engine."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from tests.support import ServerProcess, children_of, free_port, pid_alive, start_server

pytestmark = pytest.mark.slow


class SilentUpstream:
    """Accepts connections and never sends a byte (the hung-upstream case)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        self._stop = True
        self.sock.close()
        for conn in self.conns:
            conn.close()


@pytest.fixture(scope="module")
def silent() -> Iterator[SilentUpstream]:
    upstream = SilentUpstream()
    yield upstream
    upstream.close()


@pytest.fixture(scope="module")
def failover_server(
    tmp_path_factory: pytest.TempPathFactory, silent: SilentUpstream
) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("failover")
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    live = {"model": "openai/qwen2.5-coder-0.5b-instruct", "api_base": "embedded", "api_key": "none"}
    info = {"context_window": "engine", "tokenizer": "engine"}
    models = {
        "model_list": [
            {
                "model_name": "mixed",
                "litellm_params": {"model": "openai/ghost", "api_base": dead, "api_key": "none"},
                "model_info": {**info, "id": "dead"},
            },
            {"model_name": "mixed", "litellm_params": live, "model_info": {**info, "id": "live"}},
            {
                "model_name": "dead-only",
                "litellm_params": {"model": "openai/ghost", "api_base": dead},
                "model_info": {**info, "id": "dead-2"},
            },
            {
                "model_name": "hung",
                "litellm_params": {"model": "openai/ghost", "api_base": f"http://127.0.0.1:{silent.port}/v1"},
                "model_info": {**info, "id": "hung"},
            },
            {"model_name": "backup", "litellm_params": live, "model_info": {**info, "id": "backup"}},
        ],
        "router_settings": {"fallbacks": [{"dead-only": ["backup"]}, {"hung": ["backup"]}]},
    }
    models_file = data_dir / "models.yaml"
    models_file.write_text(yaml.safe_dump(models))
    server = start_server(
        data_dir,
        env={
            "HEARTH_GATEWAY__MODELS_FILE": str(models_file),
            "HEARTH_GATEWAY__FIRST_TOKEN_TIMEOUT_S": "10",  # the live engine answers within it when busy
            "HEARTH_GATEWAY__REQUEST_TIMEOUT_S": "60",
        },
    )
    yield server
    server.stop()


def _chat(client: openai.OpenAI, model: str, stream: bool = False) -> str:
    messages = [{"role": "user", "content": "Reply with the word OK."}]
    if stream:
        chunks = client.chat.completions.create(model=model, messages=messages, max_tokens=4, stream=True)  # type: ignore[arg-type]
        return "".join((c.choices[0].delta.content or "") for c in chunks if c.choices)
    completion = client.chat.completions.create(model=model, messages=messages, max_tokens=4)  # type: ignore[arg-type]
    return completion.choices[0].message.content or ""


def test_dead_and_live_deployment_every_request_succeeds(failover_server: ServerProcess) -> None:
    client = openai.OpenAI(base_url=failover_server.v1, api_key=failover_server.api_key, max_retries=0)
    for i in range(8):
        assert _chat(client, "mixed", stream=bool(i % 2))
    log = failover_server.log()
    failures = log.count("deployment dead failed")
    assert failures >= 1  # the router did try the dead one, then retried elsewhere
    # ...and LiteLLM cooled it down after allowed_fails (1) + 1 failures instead of trying it every time
    assert failures <= 3, failures


def test_fallback_to_another_model_group(failover_server: ServerProcess) -> None:
    client = openai.OpenAI(base_url=failover_server.v1, api_key=failover_server.api_key, max_retries=0)
    assert _chat(client, "dead-only")
    assert _chat(client, "dead-only", stream=True)


def test_first_token_timeout_fails_over_from_a_hung_upstream(
    failover_server: ServerProcess, silent: SilentUpstream
) -> None:
    client = openai.OpenAI(base_url=failover_server.v1, api_key=failover_server.api_key, max_retries=0)
    started = time.monotonic()
    assert _chat(client, "hung", stream=True)
    assert time.monotonic() - started < 40
    assert silent.conns  # the hung upstream really was tried
    assert "sent no first token" in failover_server.log()


def _engine_pids(server: ServerProcess) -> dict[str, int]:
    """The engine child processes by served name (the 1.5B for `default`, the 0.5B for `fast`)."""
    pids = {}
    for pid in children_of(server.proc.pid):
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"llama_cpp.server" in args:
            pids[args[args.index(b"--model_alias") + 1].decode()] = pid
    assert pids, "no engine child process found"
    return pids


def _engine_pid(server: ServerProcess) -> int:
    return _engine_pids(server)["qwen2.5-coder-1.5b-instruct"]  # the one `default` waits for


def test_engine_killed_while_serving_is_restarted(hearth: ServerProcess, client: openai.OpenAI) -> None:
    old = _engine_pid(hearth)
    os.kill(old, signal.SIGKILL)
    # the request right after the kill waits for the restarted engine instead of failing
    assert _chat(client, "default")
    new = _engine_pid(hearth)
    assert new != old
    ready = httpx.get(f"{hearth.base_url}/readyz", timeout=10).json()
    assert ready["checks"]["engine"]["restarts"] >= 1
    assert _chat(client, "default", stream=True)


def test_shutdown_leaves_no_process(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    engines = _engine_pids(server).values()
    assert len(engines) == 1  # the test profile runs the 0.5B only
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says why it stopped
    assert server.stop() in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in server.log()
    deadline = time.monotonic() + 15
    while any(pid_alive(engine) for engine in engines) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(pid_alive(engine) for engine in engines)

    # even a SIGKILLed server takes its engines with it (PR_SET_PDEATHSIG)
    server = start_server(tmp_path / "data2")
    engines = _engine_pids(server).values()
    server.proc.kill()
    server.proc.wait(10)
    deadline = time.monotonic() + 15
    while any(pid_alive(engine) for engine in engines) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(pid_alive(engine) for engine in engines)
