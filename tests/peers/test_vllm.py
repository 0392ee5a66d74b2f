"""Issue 6: Hearth in front of the real vLLM OpenAI server (its CPU build, serving the bundled model converted
to safetensors), next to the embedded llama.cpp engine in the same model group.

The vllm profile prefers vLLM (``order: 1``), so every request here reaches it while it is up; vLLM's own
Prometheus counters prove which requests it served. The failover tests kill vLLM, then the engine, under a
load of non-streaming requests: no client sees an error.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from tests.peers.conftest import VllmServer
from tests.support import ROOT, ServerProcess, children_of, start_server

PROMPT = [{"role": "user", "content": "Name three colors, comma-separated."}]


def client(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0, timeout=300)


def vllm_served(vllm: VllmServer, at_least: float = 0, wait_s: float = 10) -> float:
    """How many requests vLLM has finished (all finish reasons), from its /metrics; waits up to ``wait_s``
    for the count to reach ``at_least`` (vLLM counts a request a moment after its last byte)."""
    deadline = time.monotonic() + wait_s
    while True:
        text = httpx.get(f"{vllm.base_url}/metrics", timeout=10).text
        served = sum(float(m) for m in re.findall(r"^vllm:request_success_total\{[^}]*\} (\S+)$", text, re.M))
        if served >= at_least or time.monotonic() > deadline:
            return served
        time.sleep(0.2)


def test_chat_is_served_by_vllm_and_its_extra_fields_reach_clients(
    hearth_vllm: ServerProcess, vllm: VllmServer
) -> None:
    before = vllm_served(vllm)
    completion = client(hearth_vllm).chat.completions.create(
        model="default",
        messages=PROMPT,
        max_tokens=24,
        temperature=0,  # type: ignore[arg-type]
    )
    assert vllm_served(vllm, before + 1) == before + 1
    assert completion.choices[0].message.content
    assert completion.system_fingerprint and completion.system_fingerprint.startswith("vllm-")
    assert completion.usage is not None
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    assert (
        completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    # vLLM's own fields are passed through: the SDK keeps them as extras instead of failing on them
    raw = httpx.post(
        f"{hearth_vllm.v1}/chat/completions",
        headers={"authorization": f"Bearer {hearth_vllm.api_key}"},
        json={"model": "default", "messages": PROMPT, "max_tokens": 8, "temperature": 0},
        timeout=300,
    ).json()
    assert {"prompt_logprobs", "kv_transfer_params"} & set(raw), sorted(raw)
    assert "refusal" in raw["choices"][0]["message"]


def test_streamed_chat_through_vllm_ends_with_usage(hearth_vllm: ServerProcess, vllm: VllmServer) -> None:
    before = vllm_served(vllm)
    stream = client(hearth_vllm).chat.completions.create(
        model="default",
        messages=PROMPT,  # type: ignore[arg-type]
        max_tokens=24,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert vllm_served(vllm, before + 1) == before + 1


def test_json_schema_output_from_vllm(hearth_vllm: ServerProcess, vllm: VllmServer) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city", "country"],
        "additionalProperties": False,
    }
    before = vllm_served(vllm)
    completion = client(hearth_vllm).chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": "Give the capital of France as JSON with city and country."}],
        max_tokens=64,
        temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "capital", "schema": schema}},
    )
    data = json.loads(completion.choices[0].message.content or "")
    assert set(data) == {"city", "country"} and all(isinstance(v, str) for v in data.values())
    json_object = client(hearth_vllm).chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": 'Reply with a JSON object {"ok": true}.'}],
        max_tokens=32,
        temperature=0,
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(json_object.choices[0].message.content or ""), dict)
    assert vllm_served(vllm, before + 2) == before + 2


def test_rag_query_is_answered_by_vllm_with_citations(hearth_vllm: ServerProcess, vllm: VllmServer) -> None:
    headers = {"authorization": f"Bearer {hearth_vllm.api_key}"}
    with httpx.Client(base_url=hearth_vllm.v1, headers=headers, timeout=600) as http:
        http.post("/collections", json={"name": "handbook"}).raise_for_status()
        manual = ROOT / "examples" / "manual" / "manual-en.md"
        http.post(
            "/collections/handbook/documents", files={"file": (manual.name, manual.read_bytes())}
        ).raise_for_status()
        before = vllm_served(vllm)
        answer = http.post(
            "/collections/handbook/query", json={"question": "How many days of annual leave do I get?"}
        )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["found"] is True and body["answer"].strip()
    assert body["citations"] and all(c["filename"] == "manual-en.md" for c in body["citations"])
    assert body["usage"]["completion_tokens"] > 0
    assert vllm_served(vllm, before + 1) >= before + 1


def load(server: ServerProcess, count: int, during: threading.Event | None = None) -> list[str]:
    """``count`` non-streaming requests from 4 threads; returns the errors (none expected)."""
    errors: list[str] = []
    sdk = client(server)

    def one(n: int) -> None:
        try:
            done = sdk.chat.completions.create(
                model="default",
                messages=[{"role": "user", "content": f"Count from {n} to {n + 20}, one number per line."}],
                max_tokens=48,
                temperature=0,
            )
            assert done.choices[0].message.content
        except Exception as exc:  # noqa: BLE001 - every failure is reported
            errors.append(f"request {n}: {type(exc).__name__}: {exc}")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(count)))
    return errors


def test_router_fails_over_to_the_engine_when_vllm_is_killed(
    hearth_vllm: ServerProcess, vllm: VllmServer
) -> None:
    killer = threading.Timer(4.0, vllm.kill)  # mid-load: requests are in flight on vLLM
    killer.start()
    try:
        errors = load(hearth_vllm, 16)
    finally:
        killer.join()
    assert not errors, errors
    assert vllm.proc is not None and vllm.proc.poll() is not None  # vLLM is gone
    # the engine answered while vLLM was down
    again = client(hearth_vllm).chat.completions.create(model="default", messages=PROMPT, max_tokens=8)
    assert again.choices[0].message.content
    assert not (again.system_fingerprint or "").startswith("vllm-")
    # vLLM back: once its cooldown is over, Hearth prefers it again without a restart of its own
    vllm.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        reply = client(hearth_vllm).chat.completions.create(model="default", messages=PROMPT, max_tokens=4)
        if (reply.system_fingerprint or "").startswith("vllm-"):
            break
        time.sleep(2)
    else:
        pytest.fail("Hearth did not go back to vLLM after it restarted")


@pytest.fixture
def hearth_engine_first(
    vllm: VllmServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """Hearth with the engine preferred and vLLM behind it (the vllm profile's order, reversed)."""
    base = tmp_path_factory.mktemp("engine-first")
    models = yaml.safe_load((ROOT / "configs" / "models.yaml").read_text())
    for entry in models["model_list"]:
        if entry.get("profiles") and "vllm" in entry["profiles"]:
            entry["litellm_params"]["order"] = 2
        elif entry["litellm_params"].get("api_base") == "embedded":
            entry["litellm_params"]["order"] = 1
    (base / "models.yaml").write_text(yaml.safe_dump(models))
    env = {
        "HEARTH_PROFILES": "test,vllm",
        "VLLM_API_BASE": f"{vllm.base_url}/v1",
        "HEARTH_GATEWAY__MODELS_FILE": str(base / "models.yaml"),
        "HEARTH_CACHE__ENABLED": "false",
    }
    server = start_server(base / "data", env=env)
    yield server
    server.stop()


def engine_pid(server: ServerProcess) -> int:
    for pid in children_of(server.proc.pid):
        if "llama_cpp.server" in Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " "):
            return pid
    raise AssertionError("no llama_cpp.server child")


def test_router_fails_over_to_vllm_when_the_engine_is_killed(
    hearth_engine_first: ServerProcess, vllm: VllmServer
) -> None:
    first = client(hearth_engine_first).chat.completions.create(
        model="default", messages=PROMPT, max_tokens=4
    )
    assert not (first.system_fingerprint or "").startswith("vllm-")  # the engine serves first
    served = vllm_served(vllm)
    pid = engine_pid(hearth_engine_first)
    killer = threading.Timer(3.0, os.kill, (pid, signal.SIGKILL))
    killer.start()
    try:
        errors = load(hearth_engine_first, 16)
    finally:
        killer.join()
    assert not errors, errors
    assert vllm_served(vllm, served + 1) > served  # vLLM took over while the engine was down
    assert engine_pid(hearth_engine_first) != pid  # and the supervisor brought the engine back
