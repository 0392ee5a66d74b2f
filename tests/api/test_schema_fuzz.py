"""Issue 5: Schemathesis over the whole OpenAPI schema of a real `hearth serve`: no 5xx, no response that
breaks the schema. The server bounds completions (gateway.default_max_tokens / max_tokens_limit) so random
chat requests finish quickly on the embedded engine; that bound is checked here too."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.support import ROOT, ServerProcess, start_server
from tests.workers.support import RedisProcess

pytestmark = pytest.mark.slow

REDIS_DB = 1  # in the tests' own redis-server (tests/conftest.py)
USER, ADMIN = "fz-user-key-1", "fz-admin-key-2"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, own_redis: RedisProcess) -> Iterator[ServerProcess]:
    redis_url = own_redis.db(REDIS_DB)
    base = tmp_path_factory.mktemp("fuzz")
    env = {
        "HEARTH_API_KEYS": USER,
        "HEARTH_AUTH__ADMIN_KEYS": ADMIN,
        "HEARTH_REDIS__URL": redis_url,
        "HEARTH_GATEWAY__DEFAULT_MAX_TOKENS": "8",
        "HEARTH_GATEWAY__MAX_TOKENS_LIMIT": "16",
        # reports from the offline demo data: yfinance cannot reach the internet here
        "HEARTH_MARKET__PROVIDER": "csv",
        "HEARTH_MARKET__CSV_DIR": str(ROOT / "examples" / "market"),
    }
    proc = start_server(base / "data", api_key=USER, env=env)
    yield proc
    proc.stop()
    redis.Redis.from_url(redis_url).flushdb()  # our own server


def api(server: ServerProcess, method: str, path: str, **kwargs: object) -> httpx.Response:
    headers = {"authorization": f"Bearer {ADMIN}"}
    response = httpx.request(method, f"{server.v1}{path}", headers=headers, timeout=120, **kwargs)  # type: ignore[arg-type]
    assert response.status_code < 300, response.text
    return response


def known_resources(server: ServerProcess) -> dict[str, str]:
    """Real identifiers for the path parameters, so the fuzzer reaches past the 404s."""
    api(server, "POST", "/collections", json={"name": "fuzz-docs"})
    document = api(
        server,
        "POST",
        "/collections/fuzz-docs/documents",
        files={
            "file": ("guide.txt", "The reset button is on the back. 리셋 버튼은 뒷면에 있습니다.\n".encode())
        },
    ).json()
    report = api(server, "POST", "/reports/stocks", json={"ticker": "ACME"}).json()
    return {
        "name": "fuzz-docs",
        "assistant": "manual-qa",
        "document_id": document["document_id"],
        "report_id": report["report_id"],
    }


def chat(server: ServerProcess, **body: object) -> httpx.Response:
    body = {"model": "default", "messages": [{"role": "user", "content": "Count from one to fifty."}], **body}
    return httpx.post(
        f"{server.v1}/chat/completions", json=body, headers={"authorization": f"Bearer {USER}"}, timeout=120
    )


def test_completions_are_bounded_by_the_server(server: ServerProcess) -> None:
    unbounded = chat(server)
    assert unbounded.status_code == 200, unbounded.text
    assert unbounded.json()["usage"]["completion_tokens"] <= 8
    assert unbounded.json()["choices"][0]["finish_reason"] == "length"
    too_many = chat(server, max_tokens=17)
    assert too_many.status_code == 400
    assert too_many.json()["error"]["param"] == "max_tokens"
    assert "16" in too_many.json()["error"]["message"]
    assert chat(server, max_completion_tokens=17).json()["error"]["param"] == "max_completion_tokens"
    assert chat(server, max_tokens=16).status_code == 200


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    server: ServerProcess, tmp_path: Path
) -> None:
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st is not None, "schemathesis is a dev dependency: run make setup"
    junit = tmp_path / "schemathesis.xml"
    config = tmp_path / "schemathesis.toml"
    lines = [f'{key} = "{value}"' for key, value in known_resources(server).items()]
    config.write_text("[parameters]\n" + "\n".join(lines) + "\n", encoding="utf-8")
    command = [
        st,
        "--config-file",
        str(config),
        "run",
        f"{server.base_url}/openapi.json",
        "--checks",
        "not_a_server_error,response_schema_conformance,content_type_conformance",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        "12",
        "--workers",
        "1",
        "--seed",
        "20261124",
        "--generation-database",
        "none",
        "--request-timeout",
        "120",
        "--suppress-health-check",
        "all",
        "--header",
        f"Authorization: Bearer {ADMIN}",
        "--no-color",
        "--report",
        "junit",
        "--report-junit-path",
        str(junit),
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    output = result.stdout + result.stderr
    print(output[-6000:])  # shown with -s, and on failure
    assert result.returncode == 0, output[-12000:] + "\n--- server log ---\n" + server.log()[-4000:]
    assert "No issues found" in output or "passed" in output, output[-4000:]
    # the API still serves afterwards, and the fuzzer got past validation into the engine and retrieval
    assert httpx.get(f"{server.base_url}/readyz", timeout=10).status_code == 200
    metrics = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    for route in ("/v1/chat/completions", "/v1/embeddings", "/v1/collections/{name}/query"):
        assert f'route="{route}",status="200"' in metrics, route
