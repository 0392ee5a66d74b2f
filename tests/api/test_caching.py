"""The response cache end to end: a real server on a redis-server of the test's own (which the last test
kills), the real engine and embedders, the official openai SDK. Timings are printed, never asserted
(bench/ measures them)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from inference import sse
from tests.support import ServerProcess, start_server
from tests.workers.support import RedisProcess

pytestmark = pytest.mark.slow

MANUAL = (
    "Hearth Labs manual. The night courier is called Okapi Express and it collects parcels at 21:40 every "
    "weekday from the loading bay behind building C."
)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path_factory.mktemp("cache-redis"))
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def hearth(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisProcess) -> Iterator[ServerProcess]:
    server = start_server(
        tmp_path_factory.mktemp("cache-data"),
        api_key="sk-test-cache-0001",
        env={
            "HEARTH_REDIS__URL": redis_server.url,
            "HEARTH_REDIS__EMBEDDED_FALLBACK": "false",
            "HEARTH_CACHE__RETRY_AFTER_S": "1",
        },
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(hearth: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=hearth.v1, api_key=hearth.api_key, max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def http(hearth: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=hearth.v1, headers={"authorization": f"Bearer {hearth.api_key}"}, timeout=300
    ) as client:
        yield client


def ask(client: openai.OpenAI, content: str, **params: object) -> tuple[str, str, float]:
    """(cache header, answer text, seconds)."""
    started = time.perf_counter()
    raw = client.chat.completions.with_raw_response.create(
        model="default",
        messages=[{"role": "user", "content": content}],
        **{"max_tokens": 12, **params},  # type: ignore[arg-type]
    )
    elapsed = time.perf_counter() - started
    completion = raw.parse()
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    return raw.headers["x-hearth-cache"], completion.choices[0].message.content or "", elapsed


def test_temperature_zero_is_a_miss_then_a_hit(client: openai.OpenAI) -> None:
    first = ask(client, "Name a primary colour.", temperature=0)
    second = ask(client, "Name a primary colour.", temperature=0)
    assert (first[0], second[0]) == ("miss", "hit")
    assert second[1] == first[1]
    print(f"\nchat miss {first[2] * 1000:.1f} ms, hit {second[2] * 1000:.1f} ms (client side)")
    # any parameter that changes the output is another entry
    assert ask(client, "Name a primary colour.", temperature=0, max_tokens=11)[0] == "miss"


def test_a_seed_makes_a_request_cacheable_and_sampling_never_is(client: openai.OpenAI) -> None:
    seeded = [ask(client, "Say a random word.", temperature=0.8, seed=42) for _ in range(2)]
    assert [s[0] for s in seeded] == ["miss", "hit"] and seeded[0][1] == seeded[1][1]
    sampled = [ask(client, "Say a random word.", temperature=0.7) for _ in range(2)]
    assert [s[0] for s in sampled] == ["miss", "miss"]


def test_streams_are_stored_and_replayed(client: openai.OpenAI, http: httpx.Client) -> None:
    def stream() -> tuple[str, str, object]:
        raw = client.chat.completions.with_raw_response.create(
            model="default",
            messages=[{"role": "user", "content": "Count from 1 to 3."}],
            temperature=0,
            max_tokens=16,
            stream=True,
            stream_options={"include_usage": True},
        )
        text, usage = "", None
        for chunk in raw.parse():
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
            if chunk.usage:
                usage = chunk.usage
        return raw.headers["x-hearth-cache"], text, usage

    miss, hit = stream(), stream()
    assert (miss[0], hit[0]) == ("miss", "hit")
    assert hit[1] == miss[1] and hit[1]
    assert hit[2] == miss[2] and hit[2] is not None
    # the stored stream answers the same request without stream too, and the wire format holds
    plain = client.chat.completions.with_raw_response.create(
        model="default",
        messages=[{"role": "user", "content": "Count from 1 to 3."}],
        temperature=0,
        max_tokens=16,
    )
    assert plain.headers["x-hearth-cache"] == "hit" and plain.parse().choices[0].message.content == miss[1]
    body = {
        "model": "default",
        "messages": [{"role": "user", "content": "Count from 1 to 3."}],
        "temperature": 0,
        "max_tokens": 16,
        "stream": True,
    }
    with http.stream("POST", "/chat/completions", json=body) as response:
        assert response.headers["x-hearth-cache"] == "hit"
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = list(response.iter_lines())
    assert [line for line in lines if line][-1] == "data: [DONE]"
    assert all("usage" not in chunk for chunk in sse.parse_events(lines))


def test_embeddings_are_cached(http: httpx.Client) -> None:
    body = {"model": "all-minilm-l6-v2", "input": ["a cached sentence", "another one"]}
    first, second = http.post("/embeddings", json=body), http.post("/embeddings", json=body)
    assert first.status_code == second.status_code == 200
    assert (first.headers["x-hearth-cache"], second.headers["x-hearth-cache"]) == ("miss", "hit")
    assert second.json()["data"] == first.json()["data"] and second.json()["usage"] == first.json()["usage"]
    partly = http.post("/embeddings", json={**body, "input": ["a cached sentence", "a new one"]})
    assert partly.headers["x-hearth-cache"] == "miss"
    assert partly.json()["data"][0]["embedding"] == first.json()["data"][0]["embedding"]


def test_rag_answers_are_cached_until_the_collection_changes(
    http: httpx.Client, client: openai.OpenAI
) -> None:
    assert http.post("/collections", json={"name": "manual"}).status_code == 201
    upload = http.post(
        "/collections/manual/documents", files={"file": ("manual.txt", io.BytesIO(MANUAL.encode()))}
    )
    assert upload.status_code == 201, upload.text
    question = {"question": "When does the night courier Okapi Express collect parcels?"}
    first = http.post("/collections/manual/query", json=question)
    second = http.post("/collections/manual/query", json=question)
    assert first.status_code == second.status_code == 200, first.text
    assert (first.headers["x-hearth-cache"], second.headers["x-hearth-cache"]) == ("miss", "hit")
    a, b = first.json(), second.json()
    assert a["found"] and b["answer"] == a["answer"] and b["citations"] == a["citations"]
    assert b["usage"] == a["usage"]
    assert b["session_id"] and b["session_id"] != a["session_id"]  # a hit starts its own session too

    # a conversation's answers depend on its stored turns: never from the cache, and the turn is kept
    follow = {**question, "session_id": b["session_id"]}
    assert http.post("/collections/manual/query", json=follow).headers["x-hearth-cache"] == "miss"

    # assistants (ask, and the assistant/<name> chat model) are cached the same way
    ask = [http.post("/assistants/manual-qa/ask", json=question) for _ in range(2)]
    assert [r.headers["x-hearth-cache"] for r in ask] == ["miss", "hit"]
    chat = [
        client.chat.completions.with_raw_response.create(
            model="assistant/manual-qa", messages=[{"role": "user", "content": question["question"]}]
        )
        for _ in range(2)
    ]
    assert [r.headers["x-hearth-cache"] for r in chat] == ["miss", "hit"]
    assert chat[0].parse().choices[0].message.content == chat[1].parse().choices[0].message.content

    more = "Appendix. The loading bay behind building C is closed on public holidays."
    upload = http.post(
        "/collections/manual/documents", files={"file": ("more.txt", io.BytesIO(more.encode()))}
    )
    assert upload.status_code == 201, upload.text
    third = http.post("/collections/manual/query", json=question)
    assert third.headers["x-hearth-cache"] == "miss"  # re-ingesting invalidated it


def test_requests_survive_redis_going_away_and_coming_back(
    client: openai.OpenAI, hearth: ServerProcess, redis_server: RedisProcess
) -> None:
    cached = ask(client, "Name a planet.", temperature=0)
    assert ask(client, "Name a planet.", temperature=0)[0] == "hit"
    redis_server.kill()
    for _ in range(2):
        outcome = ask(client, "Name a planet.", temperature=0)
        assert outcome[0] == "miss" and outcome[1] == cached[1]
        time.sleep(1.2)  # past retry_after_s: the next request tries Redis again (and fails, quietly)
    redis_server.start()
    time.sleep(1.2)
    assert ask(client, "Name a star.", temperature=0)[0] == "miss"
    assert ask(client, "Name a star.", temperature=0)[0] == "hit"
    log = hearth.log()
    assert log.count("the response cache is off") == 1, log[-3000:]
    assert log.count("the response cache is back") == 1
