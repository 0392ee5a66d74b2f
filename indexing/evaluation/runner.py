"""Send each question through the running server and score its answer.

A collection is asked at ``POST /v1/collections/{name}/query`` (with ``top_k`` when given), an assistant
at ``POST /v1/assistants/{name}/ask``; every question is asked on its own (no ``session_id``). Latency is
the wall time of the HTTP call. A question whose request fails (timeout, 5xx) is recorded with its error
and the run goes on; what makes every question fail stops the run at once: no server at the URL, a
refused key, an unknown collection or assistant (404).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from indexing.evaluation.dataset import Question
from indexing.evaluation.errors import ServerRefused, ServerUnreachable, TargetNotFound
from indexing.evaluation.metrics import Passage, QuestionScore, Reply, score


@dataclass(frozen=True)
class Target:
    """What answers the questions: a collection or an assistant, by name."""

    kind: Literal["collection", "assistant"]
    name: str

    @property
    def path(self) -> str:
        if self.kind == "assistant":
            return f"/v1/assistants/{self.name}/ask"
        return f"/v1/collections/{self.name}/query"

    def body(self, question: str, top_k: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {"question": question}
        if top_k and self.kind == "collection":  # an assistant's top_k is its own setting
            body["top_k"] = top_k
        return body


async def evaluate_at(
    url: str,
    key: str,
    target: Target,
    questions: Sequence[Question],
    *,
    top_k: int | None = None,
    concurrency: int = 1,
    on_result: Callable[[QuestionScore], None] | None = None,
    timeout_s: float = 600,
) -> list[QuestionScore]:
    """:func:`run_evaluation` against the server at ``url`` with the API key ``key``."""
    async with httpx.AsyncClient(
        base_url=url,
        headers={"authorization": f"Bearer {key}"},
        timeout=httpx.Timeout(timeout_s, connect=10),
    ) as client:
        return await run_evaluation(
            client, target, questions, top_k=top_k, concurrency=concurrency, on_result=on_result
        )


async def run_evaluation(
    client: httpx.AsyncClient,
    target: Target,
    questions: Sequence[Question],
    *,
    top_k: int | None = None,
    concurrency: int = 1,
    on_result: Callable[[QuestionScore], None] | None = None,
) -> list[QuestionScore]:
    """Score every question, ``concurrency`` requests at a time; results in the questions' order.

    ``client`` carries the base URL and the key. Hit@k counts the first ``top_k`` citations (all when None).
    """
    await check_target(client, target)
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(question: Question) -> QuestionScore:
        async with gate:
            result = score(question, await ask(client, target, question, top_k), k=top_k)
        if on_result is not None:
            on_result(result)
        return result

    tasks = [asyncio.create_task(one(question)) for question in questions]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    failure = next((task.exception() for task in done if task.exception() is not None), None)
    if failure is not None:  # one request showed that none can succeed: stop the others
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        raise failure
    return [task.result() for task in tasks]


async def check_target(client: httpx.AsyncClient, target: Target) -> None:
    """Fail before the first question when the server, the key or the target is wrong."""
    collection = target.name
    if target.kind == "assistant":
        response = await _get(client, "/v1/assistants")
        names = {item["name"]: item["collection"] for item in response.json().get("data", [])}
        if target.name not in names:
            known = ", ".join(sorted(names)) or "none"
            raise TargetNotFound(f"the server has no assistant '{target.name}' (it has: {known})")
        collection = names[target.name]
    response = await _get(client, f"/v1/collections/{collection}", missing_ok=True)
    if response.status_code == 404:
        owner = f"assistant '{target.name}' answers from the collection '{collection}', which"
        raise TargetNotFound(
            f"{owner if target.kind == 'assistant' else f'the collection {collection!r}'} does not exist "
            f"for this key: create it with `hearth ingest DIR --collection {collection}`"
        )


async def ask(client: httpx.AsyncClient, target: Target, question: Question, top_k: int | None) -> Reply:
    """One question's reply, or a Reply with ``error`` when this request alone failed."""
    started = time.perf_counter()
    try:
        response = await client.post(target.path, json=target.body(question.question, top_k))
    except httpx.TimeoutException:
        return Reply(latency_s=time.perf_counter() - started, error="timed out")
    except httpx.TransportError as exc:
        raise _unreachable(client, exc) from exc
    latency = time.perf_counter() - started
    if response.status_code == 404:
        raise TargetNotFound(f"{target.kind} '{target.name}': {_message(response)}")
    if response.status_code in (401, 403):
        raise ServerRefused(f"the server refused the key: {_message(response)}")
    if response.status_code != 200:
        return Reply(latency_s=latency, error=f"HTTP {response.status_code}: {_message(response)}")
    try:
        body = response.json()
        citations = tuple(
            Passage(str(c["filename"]), c.get("page"), str(c.get("text") or ""), float(c.get("score") or 0))
            for c in body.get("citations") or []
        )
        cached = response.headers.get("x-hearth-cache") == "hit"
        return Reply(str(body["answer"]), bool(body["found"]), citations, latency, cached=cached)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return Reply(latency_s=latency, error=f"malformed response ({type(exc).__name__}: {exc})")


async def _get(client: httpx.AsyncClient, path: str, *, missing_ok: bool = False) -> httpx.Response:
    try:
        response = await client.get(path)
    except httpx.HTTPError as exc:
        raise _unreachable(client, exc) from exc
    if response.status_code in (401, 403):
        raise ServerRefused(f"the server refused the key: {_message(response)}")
    if response.status_code == 404 and missing_ok:
        return response
    if response.status_code != 200:
        raise ServerRefused(f"GET {path} failed: {_message(response)}")
    return response


def _unreachable(client: httpx.AsyncClient, exc: Exception) -> ServerUnreachable:
    url = str(client.base_url).rstrip("/")
    reason = str(exc) or type(exc).__name__
    return ServerUnreachable(f"the server at {url} does not answer ({reason}): is `hearth serve` running?")


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except Exception:
        return f"HTTP {response.status_code}: {response.text[:200]}"
