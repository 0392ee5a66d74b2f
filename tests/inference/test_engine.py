"""The supervised llama.cpp engine, for real: it starts, answers chats, survives a SIGKILL, stops cleanly,
refuses a taken port, and dies with its parent; a group of them serves the 1.5B and the 0.5B side by side."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from configs.settings import EngineSettings
from inference.engine import EngineGroup, EngineSupervisor
from inference.errors import EngineError
from inference.model_store import QWEN_0_5B, QWEN_1_5B, ensure_bundled_model
from inference.tokens import GGUFTokenCounter
from tests.support import MODELS_DIR, OFFLINE_ENV, ROOT, free_port, pid_alive

pytestmark = pytest.mark.slow

PORT = 8291
T = TypeVar("T")


class Harness:
    """One event loop for the module, so the supervisor and its monitor live across tests."""

    def __init__(self, supervisor: EngineSupervisor, loop: asyncio.AbstractEventLoop) -> None:
        self.supervisor = supervisor
        self.loop = loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def chat(self, content: str, max_tokens: int = 16) -> dict[str, Any]:
        async def post() -> dict[str, Any]:
            async with httpx.AsyncClient(
                base_url=self.supervisor.url, timeout=120, trust_env=False
            ) as client:
                response = await client.post(
                    "/chat/completions",
                    json={
                        "model": self.supervisor.settings.served_name,
                        "messages": [{"role": "user", "content": content}],
                        "temperature": 0,
                        "max_tokens": max_tokens,
                    },
                )
            assert response.status_code == 200, response.text
            return dict(response.json())

        return self.run(post())


@pytest.fixture(scope="module")
def model_path() -> Path:
    return ensure_bundled_model(QWEN_0_5B, MODELS_DIR)


@pytest.fixture(scope="module")
def engine(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    settings = EngineSettings(port=PORT, n_ctx=2048, restart_backoff_s=0.2, max_restart_backoff_s=2.0)
    log_path = tmp_path_factory.mktemp("engine") / "engine.log"
    supervisor = EngineSupervisor(settings, model_path, log_path)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    harness = Harness(supervisor, loop)
    harness.run(supervisor.start())
    try:
        harness.run(supervisor.wait_ready(120))
        yield harness
    finally:
        harness.run(supervisor.stop())
        asyncio.set_event_loop(None)
        loop.close()


def test_engine_becomes_ready(engine: Harness) -> None:
    supervisor = engine.supervisor
    assert supervisor.ready
    assert supervisor.pid is not None and pid_alive(supervisor.pid)
    assert supervisor.url == f"http://127.0.0.1:{PORT}/v1"
    health = engine.run(supervisor.health())
    assert health == {"status": "ok", "pid": supervisor.pid, "restarts": 0, "url": supervisor.url}


def test_engine_answers_in_english_with_the_qwen_template(engine: Harness, model_path: Path) -> None:
    question = "What is the capital of France? Answer with one word."
    reply = engine.chat(question)
    assert "Paris" in reply["choices"][0]["message"]["content"]
    assert reply["model"] == engine.supervisor.settings.served_name
    # the GGUF's own chat template is in use: Hearth's count of the prompt matches the engine's
    counted = GGUFTokenCounter(model_path).count_messages([{"role": "user", "content": question}])
    assert reply["usage"]["prompt_tokens"] == counted


def test_engine_answers_in_korean(engine: Harness) -> None:
    reply = engine.chat("한국의 수도는 어디인가요? 한 단어로 답하세요.")
    assert "서울" in reply["choices"][0]["message"]["content"]


def test_engine_is_restarted_after_sigkill(engine: Harness) -> None:
    supervisor = engine.supervisor
    old_pid = supervisor.pid
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)

    async def wait_for_restart() -> None:
        deadline = time.monotonic() + 30
        while supervisor.ready or supervisor.pid in (None, old_pid):
            assert time.monotonic() < deadline, "the supervisor did not notice the dead engine"
            await asyncio.sleep(0.05)
        await supervisor.wait_ready(120)

    engine.run(wait_for_restart())
    assert supervisor.restarts == 1
    assert supervisor.pid != old_pid and not pid_alive(old_pid)
    reply = engine.chat("What is the capital of France? Answer with one word.")
    assert "Paris" in reply["choices"][0]["message"]["content"]
    assert engine.run(supervisor.health())["status"] == "ok"


def test_port_in_use_is_refused_with_the_setting_to_change(engine: Harness, model_path: Path) -> None:
    other = EngineSupervisor(engine.supervisor.settings, model_path, engine.supervisor.log_path)
    with pytest.raises(EngineError, match=f"127.0.0.1:{PORT} is already in use.*HEARTH_ENGINE__PORT"):
        engine.run(other.start())
    assert other.pid is None


def test_port_held_by_a_plain_socket_is_refused(model_path: Path, tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        supervisor = EngineSupervisor(EngineSettings(port=port), model_path, tmp_path / "engine.log")
        with pytest.raises(EngineError, match=f"port 127.0.0.1:{port} is already in use"):
            asyncio.run(supervisor.start())


def test_stop_leaves_no_process_and_is_idempotent(engine: Harness) -> None:
    supervisor = engine.supervisor
    pid = supervisor.pid
    assert pid is not None
    engine.run(supervisor.stop())
    assert not pid_alive(pid)
    assert supervisor.pid is None and not supervisor.ready
    assert engine.run(supervisor.health())["status"] == "down"
    engine.run(supervisor.stop())


def test_a_failed_start_reports_the_engine_log(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)  # right magic, no model
    supervisor = EngineSupervisor(EngineSettings(port=free_port()), broken, tmp_path / "engine.log")

    async def scenario() -> None:
        await supervisor.start()
        try:
            with pytest.raises(EngineError, match="exited with code") as caught:
                await supervisor.wait_ready(120)
            assert "llama_cpp.server" in str(caught.value)  # the log tail: our header line at least
            assert (await supervisor.health())["status"] == "down"
        finally:
            await supervisor.stop()

    asyncio.run(scenario())


def test_engine_dies_with_its_parent(model_path: Path, tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG: a SIGKILLed Hearth must not leave an orphaned engine holding the port."""
    port = free_port()
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from pathlib import Path
        from configs.settings import EngineSettings
        from inference.engine import EngineGroup, EngineSupervisor

        async def main():
            supervisor = EngineSupervisor(
                EngineSettings(port={port}, n_ctx=512),
                Path({str(model_path)!r}),
                Path({str(tmp_path)!r}) / "e.log",
            )
            await supervisor.start()
            await supervisor.wait_ready(120)
            print(supervisor.pid, flush=True)
            await asyncio.sleep(600)

        asyncio.run(main())
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, **OFFLINE_ENV},
        stdout=subprocess.PIPE,
        text=True,
    )
    child: int | None = None
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        assert line.strip().isdigit(), f"the parent did not report an engine pid: {line!r}"
        child = int(line)
        assert pid_alive(child)
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 15
        while pid_alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not pid_alive(child), "the engine outlived its SIGKILLed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        if child is not None and pid_alive(child):
            os.kill(child, signal.SIGKILL)


def test_an_engine_group_serves_each_model_from_its_own_process(model_path: Path, tmp_path: Path) -> None:
    """The 1.5B and the 0.5B, one llama_cpp.server each on its own port; a start that fails half way leaves
    no engine behind."""
    large_path = ensure_bundled_model(QWEN_1_5B, MODELS_DIR)
    base = EngineSettings(n_ctx=1024, port=free_port())
    large = base.model_copy(update={"served_name": "qwen2.5-coder-1.5b-instruct"})
    small = base.model_copy(update={"served_name": "qwen2.5-coder-0.5b-instruct", "port": free_port()})
    group = EngineGroup(
        [
            EngineSupervisor(large, large_path, tmp_path / "large.log"),
            EngineSupervisor(small, model_path, tmp_path / "small.log"),
        ]
    )

    async def ask(settings: EngineSettings) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=settings.url, timeout=120, trust_env=False) as client:
            response = await client.post(
                "/chat/completions",
                json={
                    "model": settings.served_name,
                    "messages": [{"role": "user", "content": "What is 2 + 2? Answer with a number."}],
                    "temperature": 0,
                    "max_tokens": 8,
                },
            )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def scenario() -> None:
        await group.start()
        try:
            await group.wait_ready(180)
            health = await group.health()
            assert health["status"] == "ok" and health["restarts"] == 0
            assert {name: engine["url"] for name, engine in health["engines"].items()} == {
                large.served_name: large.url,
                small.served_name: small.url,
            }
            pids = {engine["pid"] for engine in health["engines"].values()}
            assert len(pids) == 2 and all(pid_alive(pid) for pid in pids)
            for settings in (large, small):
                reply = await ask(settings)
                assert (
                    reply["model"] == settings.served_name
                    and "4" in reply["choices"][0]["message"]["content"]
                )
            assert group.get(large.served_name) is not None and group.get("nope") is None
        finally:
            await group.stop()
        assert not any(pid_alive(pid) for pid in pids) and (await group.health())["status"] == "down"

        # the second engine's port is taken: start() fails and takes the first engine down with it
        with socket.socket() as holder:
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past the engine's TIME_WAIT
            holder.bind(("127.0.0.1", small.port))
            holder.listen()
            with pytest.raises(
                EngineError, match=f"qwen2.5-coder-0.5b-instruct engine's port 127.0.0.1:{small.port}"
            ):
                await group.start()
            first = group.get(large.served_name)
            assert first is not None and first.pid is None

    asyncio.run(scenario())
