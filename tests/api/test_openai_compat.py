"""The official openai SDK against a real `hearth serve` and the real llama.cpp engine."""

from __future__ import annotations

import json
import math

import httpx
import openai
import pytest

from inference import sse
from inference.language import has_hangul
from tests.support import ServerProcess

pytestmark = pytest.mark.slow

CHAT_MODEL = "qwen2.5-coder-1.5b-instruct"  # `default`
FAST_MODEL = "qwen2.5-coder-0.5b-instruct"  # `fast`


def test_models_lists_chat_aliases_and_embedders(client: openai.OpenAI) -> None:
    models = {m.id: m for m in client.models.list().data}
    assert {CHAT_MODEL, FAST_MODEL} <= set(models)
    assert {"default", "fast", "gpt-4o-mini"} <= set(models)
    assert {"multilingual-e5-small", "all-minilm-l6-v2"} <= set(models)
    assert models["multilingual-e5-small"].model_extra["kind"] == "embedding"
    assert models["default"].model_extra["alias_of"] == CHAT_MODEL
    assert models["gpt-4o-mini"].model_extra["alias_of"] == CHAT_MODEL
    assert models["fast"].model_extra["alias_of"] == FAST_MODEL
    assert client.models.retrieve(CHAT_MODEL).id == CHAT_MODEL


def test_each_model_is_served_by_its_own_engine(hearth: ServerProcess, client: openai.OpenAI) -> None:
    """`default` and `fast` answer from the 1.5B and the 0.5B engines; /readyz reports each engine."""
    for alias, model in (("default", CHAT_MODEL), ("fast", FAST_MODEL)):
        completion = client.chat.completions.create(
            model=alias,
            messages=[{"role": "user", "content": "What is 2 + 2? Answer with a number."}],
            temperature=0,
            max_tokens=8,
        )
        assert completion.model == model and "4" in (completion.choices[0].message.content or "")
    engine = httpx.get(f"{hearth.base_url}/readyz", timeout=10).json()["checks"]["engine"]
    assert engine["status"] == "ok"
    assert {name: state["status"] for name, state in engine["engines"].items()} == {
        CHAT_MODEL: "ok",
        FAST_MODEL: "ok",
    }


def test_chat_completion_english(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": "What is the capital of France? Answer in one word."}],
        temperature=0,
        max_tokens=16,
    )
    assert "paris" in (completion.choices[0].message.content or "").lower()
    assert completion.usage is not None
    assert completion.usage.prompt_tokens > 5
    assert completion.usage.completion_tokens > 0
    assert (
        completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


def test_chat_completion_korean(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=CHAT_MODEL,
        messages=[
            {"role": "system", "content": "당신은 친절한 도우미입니다. 항상 한국어로 답하세요."},
            {"role": "user", "content": "대한민국의 수도는 어디인가요? 한 단어로 답하세요."},
        ],
        temperature=0,
        max_tokens=24,
    )
    answer = completion.choices[0].message.content or ""
    assert "서울" in answer
    assert has_hangul(answer)


def test_streaming_ends_with_done_and_reports_usage(hearth: ServerProcess, client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": "Count from 1 to 5, separated by commas."}],
        temperature=0,
        max_tokens=32,
        stream=True,
        stream_options={"include_usage": True},
    )
    text = ""
    usage = None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    assert "1" in text and "5" in text
    assert usage is not None and usage.completion_tokens > 0 and usage.prompt_tokens > 0

    # the raw wire format: SSE events, the last one `data: [DONE]`; no usage chunk unless asked for
    with httpx.stream(
        "POST",
        f"{hearth.v1}/chat/completions",
        headers={"authorization": f"Bearer {hearth.api_key}"},
        json={
            "model": "default",
            "messages": [{"role": "user", "content": "Say hi"}],
            "max_tokens": 8,
            "stream": True,
        },
        timeout=60,
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = list(response.iter_lines())
    events = [line for line in lines if line]
    assert events[-1] == "data: [DONE]" and all(event.startswith("data: ") for event in events)
    chunks = sse.parse_events(lines)
    assert chunks and all(not chunk.get("usage") for chunk in chunks)


def test_json_mode_object_and_schema(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": "Give the name and age of a fictional person as JSON."}],
        response_format={"type": "json_object"},
        temperature=0,
        max_tokens=64,
    )
    assert isinstance(json.loads(completion.choices[0].message.content or ""), dict)

    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
    }
    completion = client.chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": "Name a big city and its population."}],
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
        temperature=0,
        max_tokens=64,
    )
    data = json.loads(completion.choices[0].message.content or "")
    assert isinstance(data["city"], str) and isinstance(data["population"], int)


def test_embeddings_both_models(hearth: ServerProcess, client: openai.OpenAI) -> None:
    result = client.embeddings.create(
        model="multilingual-e5-small", input=["연말정산 의료비 공제", "hello world"]
    )
    assert len(result.data) == 2
    assert len(result.data[0].embedding) == 384
    assert math.isclose(sum(x * x for x in result.data[0].embedding), 1.0, rel_tol=1e-3)
    assert result.usage.prompt_tokens > 0
    single = client.embeddings.create(model="all-minilm-l6-v2", input="the cat sat on the mat")
    assert len(single.data[0].embedding) == 384
    # the SDK asks for base64 under the hood and decodes it; a plain float request must give the same vector
    plain = httpx.post(
        f"{hearth.v1}/embeddings",
        headers={"authorization": f"Bearer {hearth.api_key}"},
        json={"model": "all-minilm-l6-v2", "input": "the cat sat on the mat", "encoding_format": "float"},
        timeout=60,
    ).json()
    assert all(
        math.isclose(a, b, abs_tol=1e-6)
        for a, b in zip(plain["data"][0]["embedding"], single.data[0].embedding, strict=True)
    )
    # no model: the configured default embedder
    default = httpx.post(
        f"{hearth.v1}/embeddings",
        headers={"authorization": f"Bearer {hearth.api_key}"},
        json={"input": "no model given"},
        timeout=60,
    ).json()
    assert default["model"] == "multilingual-e5-small" and len(default["data"][0]["embedding"]) == 384


def test_openapi_schema_documents_the_openai_routes(hearth: ServerProcess) -> None:
    schema = httpx.get(f"{hearth.base_url}/openapi.json", timeout=10).json()
    assert {"/v1/models", "/v1/chat/completions", "/v1/embeddings", "/healthz", "/readyz"} <= set(
        schema["paths"]
    )
    body = schema["paths"]["/v1/chat/completions"]["post"]["requestBody"]["content"]["application/json"]
    assert "messages" in json.dumps(body)
