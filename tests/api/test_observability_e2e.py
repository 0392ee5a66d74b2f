"""Issue 5 end to end: a real `hearth serve` with rate limits, two user keys and an admin key, talked to
over HTTP with the openai SDK and httpx: /metrics, /v1/usage, /v1/admin/errors and 429s."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import redis
import yaml

from tests.support import ServerProcess, free_port, start_server
from tests.workers.support import RedisProcess

pytestmark = pytest.mark.slow

REDIS_DB = 2  # in the tests' own redis-server (tests/conftest.py)
USER, OTHER, ADMIN = "ua-e2e-key-1", "ub-e2e-key-2", "ad-e2e-key-3"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, own_redis: RedisProcess) -> Iterator[ServerProcess]:
    redis_url = own_redis.db(REDIS_DB)
    base = tmp_path_factory.mktemp("observability")
    models = yaml.safe_load((ROOT / "configs" / "models.yaml").read_text())
    models["model_list"].append(  # an upstream nobody listens on: a cheap, real 5xx
        {
            "model_name": "dead",
            "litellm_params": {"model": "openai/dead", "api_base": f"http://127.0.0.1:{free_port()}/v1"},
            "model_info": {"context_window": 2048, "tokenizer": "approx"},
        }
    )
    (base / "models.yaml").write_text(yaml.safe_dump(models))
    env = {
        "HEARTH_API_KEYS": f"{USER},{OTHER}",
        "HEARTH_AUTH__ADMIN_KEYS": ADMIN,
        "HEARTH_REDIS__URL": redis_url,
        "HEARTH_GATEWAY__MODELS_FILE": str(base / "models.yaml"),
        "HEARTH_GATEWAY__NUM_RETRIES": "0",
        "HEARTH_LIMITS__REQUESTS_PER_MINUTE": "5",
        "HEARTH_LIMITS__PER_KEY": json.dumps({"env-ua-e2e": {"rpm": 1000}, "env-ad-e2e": {"rpm": 1000}}),
    }
    proc = start_server(base / "data", api_key=USER, env=env)
    yield proc
    proc.stop()
    redis.Redis.from_url(redis_url).flushdb()  # our own server


def get(server: ServerProcess, path: str, api_key: str | None = None, **params: object) -> httpx.Response:
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.get(f"{server.base_url}{path}", headers=headers, params=params, timeout=30)


def test_metrics_show_requests_and_tokens_after_a_chat_completion(server: ServerProcess) -> None:
    client = openai.OpenAI(base_url=server.v1, api_key=USER, max_retries=0, timeout=120)
    completion = client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "Say hi."}], max_tokens=8
    )
    assert completion.usage is not None and completion.usage.prompt_tokens > 0
    stream = client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "Say hi."}], max_tokens=8, stream=True
    )
    assert list(stream)
    time.sleep(0.3)  # the accounting runs once the answer is out
    metrics = get(server, "/metrics")
    assert metrics.status_code == 200
    text = metrics.text
    assert 'hearth_http_requests_total{method="POST",route="/v1/chat/completions",status="200"} 2.0' in text
    assert 'hearth_prompt_tokens_total{key="env-ua-e2e",model="qwen2.5-coder-0.5b-instruct"}' in text
    assert 'hearth_completion_tokens_total{key="env-ua-e2e",model="qwen2.5-coder-0.5b-instruct"}' in text
    assert 'hearth_time_to_first_token_seconds_count{model="qwen2.5-coder-0.5b-instruct"} 1.0' in text
    for name in (
        "hearth_engine_up 1.0",
        "hearth_redis_up 1.0",
        "hearth_database_up 1.0",
        "hearth_queue_depth",
    ):
        assert name in text, name


def test_a_5xx_is_recorded_and_listed_for_admins_only(server: ServerProcess) -> None:
    response = httpx.post(
        f"{server.v1}/chat/completions",
        headers={"authorization": f"Bearer {USER}", "x-request-id": "e2e-dead-upstream"},
        json={"model": "dead", "messages": [{"role": "user", "content": "hi"}]},
        timeout=60,
    )
    assert response.status_code >= 500, response.text
    assert get(server, "/v1/admin/errors", USER).json()["error"]["code"] == "permission_denied"
    deadline = time.monotonic() + 10
    while True:
        listed = get(server, "/v1/admin/errors", ADMIN, source="route")
        assert listed.status_code == 200
        rows = [r for r in listed.json()["data"] if r["request_id"] == "e2e-dead-upstream"]
        if rows or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    [row] = rows
    assert row["name"] == "POST /v1/chat/completions" and row["source"] == "route"
    assert row["count"] >= 1 and row["error_type"]
    assert f'route="/v1/chat/completions",status="{response.status_code}"' in get(server, "/metrics").text


def test_usage_per_key(server: ServerProcess) -> None:
    assert get(server, "/v1/models", OTHER).status_code == 200
    time.sleep(0.3)
    mine = get(server, "/v1/usage", USER).json()
    assert mine["object"] == "list"
    assert {row["key"] for row in mine["data"]} == {"env-ua-e2e"}
    [row] = mine["data"]
    assert row["requests"] >= 2 and row["prompt_tokens"] > 0 and row["completion_tokens"] > 0
    assert row["total_tokens"] == row["prompt_tokens"] + row["completion_tokens"]
    everyone = get(server, "/v1/usage", ADMIN, days=2).json()["data"]
    assert {"env-ua-e2e", "env-ub-e2e"} <= {row["key"] for row in everyone}
    only = get(server, "/v1/usage", ADMIN, key="env-ub-e2e").json()["data"]
    assert [row["key"] for row in only] == ["env-ub-e2e"]


def test_requests_over_the_limit_get_429_with_retry_after(server: ServerProcess) -> None:
    statuses = []
    for _ in range(12):  # 5 a minute: refused within 6, or within 12 should a minute end on the way
        response = get(server, "/v1/models", OTHER)
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[-1] == 429, statuses
    error = response.json()["error"]
    assert error["code"] == "rate_limit_exceeded" and error["type"] == "requests"
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert get(server, "/v1/models", USER).status_code == 200  # its own limit
    assert get(server, "/healthz").status_code == 200
    assert 'hearth_rate_limited_requests_total{kind="requests"}' in get(server, "/metrics").text
