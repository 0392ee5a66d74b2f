"""/metrics, /v1/usage, /v1/admin/errors and rate limits through the ASGI app, with a small container of
real parts (Authenticator, RateLimiter and UsageCounters on Redis db 11, ErrorLog on SQLite) and no engine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio as aioredis
from fastapi import FastAPI

from api.app import create_app
from api.deps import PrincipalDep
from api.metering import report_usage
from api.security import Authenticator
from configs.settings import KeyLimit, LimitSettings, WorkerSettings, load_settings
from storage.db import make_engine, make_session_factory, migrate
from storage.error_log import ErrorLog
from storage.rate_limits import RateLimiter
from storage.redis_guard import RedisGuard
from storage.usage import UsageCounters
from tests.workers.support import RedisProcess
from workers.job_metrics import record_job_duration
from workers.queues import JobQueue

REDIS_DB = 5  # in the tests' own redis-server (tests/conftest.py)
USER, OTHER, ADMIN = "ua-key-0001", "ub-key-0002", "ad-key-0003"

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeRedisService:
    async def ping(self) -> bool:
        return True


@pytest.fixture
def app(tmp_path: Path, own_redis: RedisProcess) -> AsyncIterator[FastAPI]:
    url = own_redis.db(REDIS_DB)
    sync = redis.Redis.from_url(url, socket_connect_timeout=1)
    sync.flushdb()  # our own server
    db = make_engine(f"sqlite:///{tmp_path / 'hearth.db'}")
    migrate(db)
    settings = load_settings(data_dir=str(tmp_path))
    guard = RedisGuard("test", lambda: aioredis.Redis.from_url(url, socket_timeout=1))
    limits = LimitSettings(requests_per_minute=3, per_key={"env-ua-key": KeyLimit(rpm=0)})
    app = create_app(settings)
    app.state.container = SimpleNamespace(
        auth=Authenticator(env_keys=[USER, OTHER], admin_keys=[ADMIN], store=None),
        limiter=RateLimiter(limits, guard),
        usage=UsageCounters(guard),
        error_log=ErrorLog(make_session_factory(db)),
        engine=None,
        db_engine=db,
        redis=FakeRedisService(),
        queue=JobQueue(sync, WorkerSettings()),
    )

    async def boom() -> None:
        raise RuntimeError("the flux capacitor broke")

    async def spend() -> dict[str, str]:
        report_usage("default", {"prompt_tokens": 12, "completion_tokens": 3}, first_token_s=0.2)
        return {"ok": "yes"}

    async def spend_as(principal: PrincipalDep) -> dict[str, str]:
        return await spend()

    app.add_api_route("/v1/boom/{thing}", boom)
    app.add_api_route("/v1/spend", spend_as)
    yield app
    sync.flushdb()
    db.dispose()


def client(app: FastAPI, key: str | None = None) -> httpx.AsyncClient:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers)


async def settle() -> None:
    """Let the background accounting and error-recording tasks finish."""
    for _ in range(50):
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if not pending:
            return
        await asyncio.sleep(0.02)


async def test_metrics_count_requests_by_route_template_and_tokens_by_key(app: FastAPI) -> None:
    async with client(app, USER) as c:
        assert (await c.get("/v1/spend")).status_code == 200
        assert (await c.get("/v1/boom/a")).status_code == 500
        assert (await c.get("/v1/boom/b")).status_code == 500
        assert (await c.get("/nowhere/at/all")).status_code == 404
        await settle()
        record_job_duration(app.state.container.queue.connection, "summaries", "finished", 3.0)
        response = await c.get("/metrics", headers={"authorization": ""})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'hearth_http_requests_total{method="GET",route="/v1/boom/{thing}",status="500"} 2.0' in text
    assert 'route="<unmatched>",status="404"' in text
    assert "/nowhere" not in text
    assert 'hearth_prompt_tokens_total{key="env-ua-key",model="default"} 12.0' in text
    assert 'hearth_completion_tokens_total{key="env-ua-key",model="default"} 3.0' in text
    assert 'hearth_time_to_first_token_seconds_count{model="default"} 1.0' in text
    for name in (
        "hearth_http_request_duration_seconds_bucket",
        "hearth_http_requests_in_flight",
        "hearth_redis_up 1.0",
        "hearth_database_up 1.0",
        'hearth_queue_depth{queue="summaries"} 0.0',
        "hearth_workers 0.0",
        'hearth_job_duration_seconds_bucket{le="5.0",queue="summaries",status="finished"} 1.0',
        'hearth_job_duration_seconds_count{queue="summaries",status="finished"} 1.0',
    ):
        assert name in text, name


async def test_cache_header_and_record_cache_are_counted(app: FastAPI) -> None:
    app.state.metrics.record_cache("embeddings", True)
    async with client(app) as c:
        text = (await c.get("/metrics")).text
    assert 'hearth_cache_lookups_total{kind="embeddings",result="hit"} 1.0' in text


async def test_5xx_answers_are_listed_for_admins_only(app: FastAPI) -> None:
    async with client(app, USER) as c:
        failed = await c.get("/v1/boom/x", headers={"x-request-id": "req-boom-1"})
        assert failed.status_code == 500
        assert failed.json()["error"]["code"] == "internal_error"
        await settle()
        denied = await c.get("/v1/admin/errors")
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "permission_denied"
    async with client(app, ADMIN) as c:
        listed = await c.get("/v1/admin/errors", params={"source": "route", "limit": 5})
    assert listed.status_code == 200
    body = listed.json()
    assert body["object"] == "list"
    [error] = body["data"]
    assert error["source"] == "route" and error["name"] == "GET /v1/boom/{thing}"
    assert error["error_type"] == "RuntimeError" and "flux capacitor" in error["message"]
    assert error["request_id"] == "req-boom-1" and error["count"] == 1
    assert {"id", "first_seen", "last_seen"} <= error.keys()


async def test_usage_per_key_user_sees_own_admin_sees_all(app: FastAPI) -> None:
    async with client(app, USER) as c:
        await c.get("/v1/spend")
        await c.get("/v1/spend")
    async with client(app, OTHER) as c:
        await c.get("/v1/spend")
    await settle()
    async with client(app, USER) as c:
        mine = (await c.get("/v1/usage")).json()
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert mine["object"] == "list"
    [row] = mine["data"]
    assert row["key"] == "env-ua-key" and row["day"] == today
    # the two spends (the /v1/usage call itself counts once its answer is out)
    assert (row["requests"], row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == (
        2,
        24,
        6,
        30,
    )
    async with client(app, ADMIN) as c:
        everyone = (await c.get("/v1/usage", params={"days": 3})).json()["data"]
        only_b = (await c.get("/v1/usage", params={"key": "env-ub-key"})).json()["data"]
    assert {r["key"] for r in everyone} == {"env-ua-key", "env-ub-key"}
    assert [(r["key"], r["requests"]) for r in only_b] == [("env-ub-key", 1)]


async def test_requests_over_the_limit_get_429_with_retry_after(app: FastAPI) -> None:
    async with client(app, OTHER) as c:
        answers = [await c.get("/v1/spend") for _ in range(4)]
        await settle()
        metrics = (await c.get("/metrics")).text
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    refused = answers[3]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert refused.json()["error"]["type"] == "requests"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert 'hearth_rate_limited_requests_total{kind="requests"} 1.0' in metrics
    async with client(app, USER) as c:  # its own override: unlimited
        assert [(await c.get("/v1/spend")).status_code for _ in range(5)] == [200] * 5
    async with client(app) as c:  # /metrics and /healthz are never limited
        assert [(await c.get("/healthz")).status_code for _ in range(5)] == [200] * 5


async def test_refused_requests_are_not_counted_as_usage(app: FastAPI) -> None:
    async with client(app, OTHER) as c:
        for _ in range(5):
            await c.get("/v1/spend")
    await settle()
    rows: Any = await app.state.container.usage.query(key="env-ub-key")
    assert rows[0].requests == 3
