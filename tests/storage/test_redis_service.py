"""storage.redis_service: the configured Redis, else the embedded redis-server, which survives restarts."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from configs.settings import RedisSettings
from storage.errors import RedisUnavailable
from storage.redis_service import RedisService, redact_url, redis_server_binary
from tests.storage.conftest import free_port, skip_or_fail

pytestmark = pytest.mark.anyio

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_REDIS = "redis://127.0.0.1:6379/0"
UNREACHABLE = "redis://127.0.0.1:1/0"


def embedded_settings(**overrides: object) -> RedisSettings:
    values: dict[str, object] = {"url": UNREACHABLE, "embedded_port": free_port(), "connect_timeout_s": 1.0}
    values.update(overrides)
    return RedisSettings.model_validate(values)


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purposes, but only its parent can reap it
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


async def wait_until(condition: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.fixture
def local_redis() -> str:
    try:
        redis.Redis.from_url(LOCAL_REDIS, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        skip_or_fail(f"no Redis on {LOCAL_REDIS}: {exc}")
    return LOCAL_REDIS


def test_redis_server_binary_is_found() -> None:
    assert redis_server_binary().name == "redis-server"


def test_redact_url_hides_the_password() -> None:
    assert redact_url("redis://:hunter2@cache:6380/1") == "redis://:***@cache:6380/1"
    assert redact_url(LOCAL_REDIS) == LOCAL_REDIS


async def test_the_configured_redis_is_used_when_it_answers(local_redis: str, tmp_path: Path) -> None:
    service = RedisService(embedded_settings(url=local_redis), tmp_path)
    await service.start()
    try:
        assert service.url == local_redis and not service.embedded and service.embedded_pid is None
        assert await service.ping()
        key = f"hearth-test:{secrets.token_hex(8)}"
        await service.client.set(key, "v", ex=60)
        assert await service.client.get(key) == b"v"
        await service.client.delete(key)
        assert not (tmp_path / "redis").exists()
    finally:
        await service.stop()


async def test_without_fallback_an_unreachable_url_raises_redis_unavailable(tmp_path: Path) -> None:
    service = RedisService(embedded_settings(embedded_fallback=False), tmp_path)
    with pytest.raises(RedisUnavailable, match="HEARTH_REDIS__URL"):
        await service.start()
    assert not await service.ping()
    with pytest.raises(RedisUnavailable):
        _ = service.client
    await service.stop()  # harmless


async def test_an_unreachable_url_starts_the_embedded_server_which_persists_data(tmp_path: Path) -> None:
    settings = embedded_settings()
    service = RedisService(settings, tmp_path)
    await service.start()
    pid = service.embedded_pid
    try:
        assert service.embedded and pid is not None and process_exists(pid)
        assert service.url == f"redis://127.0.0.1:{settings.embedded_port}/0"
        assert await service.ping()
        await service.client.set("queued", "work")
    finally:
        await service.stop()
    assert not process_exists(pid)
    assert not await service.ping()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", settings.embedded_port), timeout=1).close()
    assert (tmp_path / "redis" / "appendonly.aof").exists()
    await service.stop()  # idempotent

    again = RedisService(settings, tmp_path)
    await again.start()
    try:
        assert again.embedded and again.embedded_pid not in (None, pid)
        assert await again.client.get("queued") == b"work"
    finally:
        await again.stop()


async def test_the_client_recovers_when_the_embedded_server_is_killed_and_restarted(tmp_path: Path) -> None:
    settings = embedded_settings()
    service = RedisService(settings, tmp_path)
    await service.start()
    try:
        client = service.client
        await client.set("k", "1")
        pid = service.embedded_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert await wait_until(lambda: not process_exists(pid) or service.embedded_pid is None)
        assert not await service.ping()
        assert await service.ensure_running()
        assert service.embedded_pid not in (None, pid)
        # the same client object, no restart of ours: the next command just works
        assert service.client is client
        assert await client.get("k") == b"1"

        # restarted by someone else (here another service, as another process would): still recovers
        os.kill(service.embedded_pid or 0, signal.SIGKILL)
        other = RedisService(settings, tmp_path)
        await other.start()
        try:
            assert other.embedded_pid is not None
            assert await client.incr("n") == 1
        finally:
            await other.stop()
    finally:
        await service.stop()


async def test_supervise_restarts_a_dead_embedded_server(tmp_path: Path) -> None:
    service = RedisService(embedded_settings(), tmp_path)
    await service.start()
    supervisor = asyncio.create_task(service.supervise(interval_s=0.1))
    try:
        pid = service.embedded_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert await wait_until(lambda: service.embedded_pid not in (None, pid))
        assert await service.client.ping()
    finally:
        await service.stop()  # ends the supervisor too
        await asyncio.wait_for(supervisor, 10)


async def test_a_second_service_reuses_the_embedded_server_and_leaves_it_running(tmp_path: Path) -> None:
    settings = embedded_settings()
    owner = RedisService(settings, tmp_path)
    await owner.start()
    try:
        guest = RedisService(settings, tmp_path)
        await guest.start()
        assert guest.embedded and guest.embedded_pid is None and guest.url == owner.url
        await guest.client.set("shared", "yes")
        await guest.stop()
        assert await owner.ping()
        assert await owner.client.get("shared") == b"yes"
    finally:
        await owner.stop()


async def test_a_redis_serving_another_directory_on_the_port_is_not_reused(
    local_redis: str, tmp_path: Path
) -> None:
    service = RedisService(embedded_settings(embedded_port=6379), tmp_path)
    with pytest.raises(RedisUnavailable, match="HEARTH_REDIS__EMBEDDED_PORT"):
        await service.start()


STARTER = """
import asyncio, sys
from pathlib import Path
from configs.settings import RedisSettings
from storage.redis_service import RedisService

async def main():
    service = RedisService(RedisSettings(url=sys.argv[1], embedded_port=int(sys.argv[2])), Path(sys.argv[3]))
    await service.start()
    print(service.embedded_pid, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


@pytest.mark.slow
async def test_another_processs_server_is_reused_and_dies_with_it(tmp_path: Path) -> None:
    settings = embedded_settings()
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, UNREACHABLE, str(settings.embedded_port), str(tmp_path)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    service = RedisService(settings, tmp_path)
    try:
        assert starter.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(starter.stdout.readline), timeout=60)
        server_pid = int(line)
        await service.start()
        assert service.embedded and service.embedded_pid is None
        await service.client.set("from", "guest")

        starter.kill()  # SIGKILL: no clean-up ran, yet PR_SET_PDEATHSIG takes the server down with it
        starter.wait()
        assert await wait_until(lambda: not process_exists(server_pid))

        assert await service.ensure_running()  # now this process starts (and owns) the server
        assert service.embedded_pid is not None
        assert await service.client.get("from") == b"guest"
    finally:
        if starter.poll() is None:
            starter.kill()
            starter.wait()
        await service.stop()
