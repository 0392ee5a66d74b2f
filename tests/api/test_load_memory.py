"""Issue 5: a bounded load test on loopback, with the response cache on and off: a few thousand requests
over chat, RAG, embeddings and /healthz, and the API process's memory does not grow.

Memory is read after a first round (allocator arenas, caches and connection pools filled) and again after a
second, larger round of the same mix; a leak of even a few KB per request shows up as growth. Cache misses
reach the real engine, so completions are bounded server-side to a few tokens."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import orjson
import pytest
import redis

from bench.loadgen import build_request, rss_mb, run_load
from tests.support import ROOT, ServerProcess, start_server
from tests.workers.support import RedisProcess

pytestmark = pytest.mark.slow

KEY = "ld-load-key-1"
REDIS_DB = 3  # in the tests' own redis-server (tests/conftest.py)
# growth allowed over the second round: well under 4 KB per request
MAX_GROWTH_MB = 8.0


@pytest.fixture(scope="module", params=["cache-on", "cache-off"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, own_redis: RedisProcess
) -> Iterator[ServerProcess]:
    redis_url = own_redis.db(REDIS_DB)
    redis.Redis.from_url(redis_url).flushdb()  # our own server: the other parameter's entries go
    env = {
        "HEARTH_REDIS__URL": redis_url,
        "HEARTH_CACHE__ENABLED": "true" if request.param == "cache-on" else "false",
        "HEARTH_LIMITS__ENABLED": "false",
        "HEARTH_SERVER__LOG_LEVEL": "warning",
        "HEARTH_GATEWAY__DEFAULT_MAX_TOKENS": "2",
        "HEARTH_GATEWAY__MAX_TOKENS_LIMIT": "2",
    }
    proc = start_server(tmp_path_factory.mktemp(request.param) / "data", api_key=KEY, env=env)
    headers = {"authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=proc.v1, headers=headers, timeout=300) as http:
        http.post("/collections", json={"name": "manual"}).raise_for_status()
        guide = ROOT / "examples" / "manual" / "manual-ko.md"
        files = {"file": (guide.name, guide.read_bytes())}
        http.post("/collections/manual/documents", files=files).raise_for_status()
    yield proc
    proc.stop()


def requests_for(server: ServerProcess) -> list[tuple[str, bytes, int]]:
    """(url, raw request, how many) for one round of the mix."""
    auth = {"authorization": f"Bearer {KEY}"}
    chat = orjson.dumps(
        {"model": "default", "messages": [{"role": "user", "content": "Say hi."}], "temperature": 0}
    )
    rag = orjson.dumps({"question": "VPN에 접속하려면 어떻게 하나요?"})
    embed = orjson.dumps(
        {"model": "multilingual-e5-small", "input": ["연말정산 의료비 공제", "annual leave"]}
    )
    url = server.base_url
    return [
        (f"{url}/healthz", build_request(f"{url}/healthz", b"", method="GET"), 300),
        (f"{url}/v1/chat/completions", build_request(f"{url}/v1/chat/completions", chat, auth), 200),
        (f"{url}/v1/embeddings", build_request(f"{url}/v1/embeddings", embed, auth), 300),
        (f"{url}/v1/models", build_request(f"{url}/v1/models", b"", auth, method="GET"), 200),
        (
            f"{url}/v1/collections/manual/query",
            build_request(f"{url}/v1/collections/manual/query", rag, auth),
            30,  # with the cache off each one is a real answer (about a second): the mix's costliest part
        ),
    ]


async def one_round(server: ServerProcess, scale: int) -> int:
    sent = 0
    for url, raw, count in requests_for(server):
        summary = await run_load(
            url, raw, concurrency=8, duration_s=600, warmup=0, max_requests=count * scale
        )
        assert summary.errors == 0, f"{url}: {summary.errors} errors"
        sent += summary.count
    return sent


def test_memory_does_not_grow_under_load(server: ServerProcess) -> None:
    pid = server.proc.pid
    warm = asyncio.run(one_round(server, 1))
    before = rss_mb(pid)
    sent = asyncio.run(one_round(server, 2))
    after = rss_mb(pid)
    assert warm + sent >= 3000
    growth = after - before
    print(f"{server.log_path.parent.parent.name}: {warm}+{sent} requests, RSS {before:.1f} → {after:.1f} MB")
    assert growth < MAX_GROWTH_MB, (
        f"RSS grew {growth:.1f} MB over {sent} requests ({before:.1f} → {after:.1f})"
    )
    assert httpx.get(f"{server.base_url}/readyz", timeout=10).status_code == 200
