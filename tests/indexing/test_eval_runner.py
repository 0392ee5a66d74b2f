"""The eval runner's HTTP handling, against a hand-written server (httpx.MockTransport)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from indexing.evaluation.dataset import Question
from indexing.evaluation.errors import ServerRefused, TargetNotFound
from indexing.evaluation.metrics import QuestionScore
from indexing.evaluation.runner import Target, run_evaluation

QUESTIONS = [
    Question(id="ok", question="rate?", facts=["17%"]),
    Question(id="boom", question="explode"),
    Question(id="slow", question="slow one"),
]


def _server(seen: list[dict[str, object]]) -> httpx.MockTransport:
    async def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path == "/v1/assistants":
            return httpx.Response(200, json={"data": [{"name": "helper", "collection": "docs"}]})
        if request.method == "GET":
            known = request.url.path == "/v1/collections/docs"
            return httpx.Response(200 if known else 404, json={"error": {"message": "no such collection"}})
        body = json.loads(request.content)
        seen.append({"path": request.url.path, **body})
        if body["question"] == "explode":
            return httpx.Response(500, json={"error": {"message": "engine crashed"}})
        if body["question"] == "slow one":
            await asyncio.sleep(0.05)  # finishes last, still reported in the file's order
        citation = {"filename": "a.md", "page": None, "text": "The rate is 17%.", "score": 0.9}
        return httpx.Response(200, json={"answer": "It is 17% [1].", "found": True, "citations": [citation]})

    return httpx.MockTransport(handle)


def _run(target: Target, seen: list[dict[str, object]], **kwargs: Any) -> list[QuestionScore]:
    async def go() -> list[QuestionScore]:
        async with httpx.AsyncClient(base_url="http://test", transport=_server(seen)) as client:
            return await run_evaluation(client, target, QUESTIONS, **kwargs)

    return asyncio.run(go())


def test_a_failed_request_is_recorded_and_the_run_goes_on() -> None:
    seen: list[dict[str, object]] = []
    scores = _run(Target("collection", "docs"), seen, top_k=3, concurrency=3)
    assert [s.question.id for s in scores] == ["ok", "boom", "slow"]
    assert scores[0].ok and scores[0].facts_correct and scores[0].reply.citations[0].filename == "a.md"
    assert scores[1].reply.error == "HTTP 500: engine crashed"
    assert all(r["path"] == "/v1/collections/docs/query" and r["top_k"] == 3 for r in seen)


def test_an_assistant_gets_no_top_k() -> None:
    seen: list[dict[str, object]] = []
    _run(Target("assistant", "helper"), seen, top_k=3)
    assert seen and all(r["path"] == "/v1/assistants/helper/ask" and "top_k" not in r for r in seen)


def test_unknown_targets_stop_the_run_before_the_first_question() -> None:
    seen: list[dict[str, object]] = []
    with pytest.raises(TargetNotFound, match="the collection 'other' does not exist"):
        _run(Target("collection", "other"), seen)
    with pytest.raises(TargetNotFound, match="no assistant 'nobody' \\(it has: helper\\)"):
        _run(Target("assistant", "nobody"), seen)
    assert seen == []


def test_a_refused_key_stops_the_run() -> None:
    transport = httpx.MockTransport(
        lambda request: httpx.Response(401, json={"error": {"message": "bad key"}})
    )

    async def go() -> None:
        async with httpx.AsyncClient(base_url="http://test", transport=transport) as client:
            await run_evaluation(client, Target("collection", "docs"), QUESTIONS)

    with pytest.raises(ServerRefused, match="refused the key: bad key"):
        asyncio.run(go())
