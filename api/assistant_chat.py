"""``model: assistant/<name>`` on /v1/chat/completions: a RAG assistant in the OpenAI chat shape, so
Open WebUI or any OpenAI client can talk to it. The answer's citations come as a ``citations`` field (in
the first chunk when streaming) and as a short sources list at the end of the text, which chat UIs show."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi.responses import Response, StreamingResponse
from starlette.types import Scope

from api.errors import ApiError, guard_stream
from api.security import Principal
from indexing.answers import Answer, AnswerService
from indexing.assistants import AssistantSpec
from inference import sse
from inference.cache import HEADER
from inference.language import detect_language

ASSISTANT_PREFIX = "assistant/"


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(part.get("text") or "" for part in content if isinstance(part, dict))
    return str(content or "")


def sources_footer(answer: Answer, korean: bool) -> str:
    if not answer.found or not answer.citations:
        return ""
    lines = [f"[{c.index}] {c.filename}" + (f", p.{c.page}" if c.page else "") for c in answer.citations]
    return "\n\n" + ("출처:" if korean else "Sources:") + "\n" + "\n".join(lines)


async def assistant_completion(
    payload: dict[str, Any],
    principal: Principal,
    answers: AnswerService,
    assistants: dict[str, AssistantSpec],
    scope: Scope | None = None,
) -> Response:
    """The assistant's answer as a chat completion, or as its stream of chunks (``scope``: the request's,
    for the error log when a stream fails mid-answer)."""
    model = payload["model"]
    spec = assistants.get(model.removeprefix(ASSISTANT_PREFIX))
    if spec is None:
        raise ApiError(404, f"The model '{model}' does not exist", code="model_not_found", param="model")
    messages = payload["messages"]
    if messages[-1].get("role") != "user" or not _text(messages[-1].get("content")).strip():
        raise ApiError(
            400, "The last message must be the user's question", code="invalid_value", param="messages"
        )
    question = _text(messages[-1]["content"])
    korean = spec.answer_language == "ko" or (
        spec.answer_language == "auto" and detect_language(question) == "ko"
    )
    history = [
        (m["role"], _text(m.get("content"))) for m in messages[:-1] if m.get("role") in ("user", "assistant")
    ]
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if not payload.get("stream"):
        answer = await answers.ask(
            principal.tenant, spec.collection, question, assistant=spec, history=history
        )
        body = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": answer.answer + sources_footer(answer, korean),
                    },
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(answer),
            "citations": answer.as_dict()["citations"],
            "found": answer.found,
        }
        return Response(orjson.dumps(body), media_type="application/json", headers=_cache_header(answer))
    answer, deltas = await answers.ask_stream(
        principal.tenant, spec.collection, question, assistant=spec, history=history
    )
    include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        data = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return sse.frame(data)

    async def events() -> AsyncIterator[bytes]:
        yield chunk(
            {"role": "assistant", "content": ""}, citations=answer.as_dict()["citations"], found=answer.found
        )
        async for delta in deltas:
            yield chunk({"content": delta})
        footer = sources_footer(answer, korean)
        if footer:
            yield chunk({"content": footer})
        yield chunk({}, "stop")
        if include_usage:
            usage = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": _usage(answer),
            }
            yield sse.frame(usage)
        yield sse.DONE

    # a failure mid-answer: one error event, as a stream from the gateway sends it (guard_stream)
    return StreamingResponse(
        guard_stream(events(), scope),
        media_type=sse.MEDIA_TYPE,
        headers={**sse.HEADERS, **_cache_header(answer)},
    )


def _cache_header(answer: Answer) -> dict[str, str]:
    return {HEADER: "hit" if answer.cached else "miss"}


def _usage(answer: Answer) -> dict[str, int]:
    usage = answer.usage or {}
    prompt, completion = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
