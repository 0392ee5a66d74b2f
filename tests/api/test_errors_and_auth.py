"""Auth and bad input: every failure is a 4xx in the OpenAI error shape, against the real server."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.support import ServerProcess

pytestmark = pytest.mark.slow


def _assert_openai_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code
    return error


def _post(server: ServerProcess, path: str, content: bytes | str, key: str | None = None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    headers["authorization"] = f"Bearer {key or server.api_key}"
    return httpx.post(f"{server.v1}{path}", content=content, headers=headers, timeout=60)


def test_missing_and_wrong_key(hearth: ServerProcess) -> None:
    response = httpx.get(f"{hearth.v1}/models", timeout=10)
    _assert_openai_error(response, 401, "missing_api_key")
    response = httpx.get(
        f"{hearth.v1}/models", headers={"authorization": "Bearer nope-wrong-key"}, timeout=10
    )
    error = _assert_openai_error(response, 401, "invalid_api_key")
    assert "nope-wrong-key" not in error["message"]  # never echo a key back whole
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=hearth.v1, api_key="sk-wrong", max_retries=0).models.list()


def test_health_endpoints_need_no_key(hearth: ServerProcess) -> None:
    assert httpx.get(f"{hearth.base_url}/healthz", timeout=10).json() == {"status": "ok"}
    ready = httpx.get(f"{hearth.base_url}/readyz", timeout=10)
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert checks["engine"]["status"] == "ok"
    assert checks["database"]["status"] == "ok"
    assert checks["redis"]["status"] == "ok"


def test_malformed_json(hearth: ServerProcess) -> None:
    _assert_openai_error(
        _post(hearth, "/chat/completions", b'{"model": "default", "messages": ['), 400, "invalid_json"
    )
    _assert_openai_error(_post(hearth, "/chat/completions", b"[1, 2]"), 400, "invalid_json")


def test_empty_messages(hearth: ServerProcess) -> None:
    error = _assert_openai_error(
        _post(hearth, "/chat/completions", json.dumps({"model": "default", "messages": []})), 400
    )
    assert error["param"] == "messages"


def test_invalid_parameter(hearth: ServerProcess) -> None:
    body = {"model": "default", "messages": [{"role": "user", "content": "hi"}], "temperature": 7}
    error = _assert_openai_error(_post(hearth, "/chat/completions", json.dumps(body)), 400)
    assert error["param"] == "temperature"


def test_unknown_model(hearth: ServerProcess) -> None:
    body = {"model": "gpt-17-ultra", "messages": [{"role": "user", "content": "hi"}]}
    error = _assert_openai_error(_post(hearth, "/chat/completions", json.dumps(body)), 404, "model_not_found")
    assert "gpt-17-ultra" in error["message"]
    client = openai.OpenAI(base_url=hearth.v1, api_key=hearth.api_key, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-17-ultra", messages=[{"role": "user", "content": "hi"}])
    embed = _post(hearth, "/embeddings", json.dumps({"model": "no-such-embedder", "input": "x"}))
    _assert_openai_error(embed, 404, "model_not_found")


def test_over_long_prompt_is_context_length_exceeded(hearth: ServerProcess) -> None:
    long_text = "lorem ipsum dolor sit amet " * 3000  # far beyond the test profile's 4096-token context
    body = {"model": "default", "messages": [{"role": "user", "content": long_text}]}
    error = _assert_openai_error(
        _post(hearth, "/chat/completions", json.dumps(body)), 400, "context_length_exceeded"
    )
    assert "maximum context length" in error["message"]
    # a prompt that fits but asks for more completion tokens than the context has left
    body = {"model": "default", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5000}
    _assert_openai_error(_post(hearth, "/chat/completions", json.dumps(body)), 400, "context_length_exceeded")
    client = openai.OpenAI(base_url=hearth.v1, api_key=hearth.api_key, max_retries=0)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="default", messages=[{"role": "user", "content": long_text}])


def test_bad_embedding_input(hearth: ServerProcess) -> None:
    _assert_openai_error(_post(hearth, "/embeddings", json.dumps({"input": []})), 400)
    _assert_openai_error(_post(hearth, "/embeddings", json.dumps({"input": [""]})), 400)
    _assert_openai_error(_post(hearth, "/embeddings", json.dumps({"model": "all-minilm-l6-v2"})), 400)
    error = _assert_openai_error(
        _post(hearth, "/embeddings", json.dumps({"input": "x", "dimensions": 64})), 400
    )
    assert error["param"] == "dimensions"


def test_unknown_route_is_openai_shaped(hearth: ServerProcess) -> None:
    response = httpx.get(f"{hearth.v1}/nothing-here", headers={"authorization": f"Bearer {hearth.api_key}"})
    _assert_openai_error(response, 404)


def test_request_id_is_returned_and_logged_with_secrets_redacted(hearth: ServerProcess) -> None:
    response = httpx.post(
        f"{hearth.v1}/embeddings",
        headers={"authorization": f"Bearer {hearth.api_key}", "x-request-id": "req-test-123"},
        json={"input": "hello", "api_key": "super-secret-value"},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-test-123"
    generated = httpx.get(f"{hearth.base_url}/healthz").headers["x-request-id"]
    assert len(generated) >= 16
    log = hearth.log()
    lines = [json.loads(line) for line in log.splitlines() if '"req-test-123"' in line]
    access = [line for line in lines if line["logger"] == "hearth.access"]
    assert access and access[0]["status"] == 200 and access[0]["path"] == "/v1/embeddings"
    assert "super-secret-value" not in log
    assert hearth.api_key not in log
