"""POST /v1/chat/completions (OpenAI-compatible; streaming as SSE ending in ``data: [DONE]``).

Deterministic requests (temperature 0, or a seed) are answered from the response cache when they can be
(:mod:`inference.chat_cache`); every answer says ``x-hearth-cache: hit`` or ``miss``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError

from api.assistant_chat import ASSISTANT_PREFIX, assistant_completion
from api.deps import AnswerServiceDep, AssistantsDep, CacheDep, GatewayDep, PrincipalDep
from api.errors import ApiError, guard_stream
from api.schemas.chat import ChatCompletionRequest, openapi_schema
from inference import sse
from inference.cache import HEADER
from inference.chat_cache import chat_key, recording, replay_stream
from inference.gateway import StreamStats

router = APIRouter(prefix="/v1", tags=["openai"])
usage_log = logging.getLogger("hearth.usage")

_HIT = {HEADER: "hit"}
_MISS = {HEADER: "miss"}


async def read_json(request: Request) -> dict[str, Any]:
    """The body as a JSON object, or a 400 in the OpenAI shape."""
    body = await request.body()
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
            "your "
            "HTTP library correctly. The OpenAI API expects a JSON payload.)",
            code="invalid_json",
        ) from exc
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_json")
    return data


def validate(schema: type[ChatCompletionRequest], data: dict[str, Any]) -> None:
    try:
        schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        raise ApiError(
            400, f"Invalid value for '{param}': {first['msg']}", code="invalid_value", param=param
        ) from exc


@router.post(
    "/chat/completions",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": openapi_schema(ChatCompletionRequest)}},
        }
    },
    responses={200: {"content": {"application/json": {}, sse.MEDIA_TYPE: {}}}},
)
async def create_chat_completion(
    request: Request,
    gateway: GatewayDep,
    principal: PrincipalDep,
    answers: AnswerServiceDep,
    assistants: AssistantsDep,
    cache: CacheDep,
) -> Response:
    """Create a chat completion. The request and the answer are the OpenAI API's; the upstream's bytes
    are passed through. ``stream: true`` answers server-sent events. ``model: assistant/<name>`` talks to a
    RAG assistant (answers carry ``citations``). Deterministic requests (``temperature: 0`` or a ``seed``)
    may be served from the cache: the header ``x-hearth-cache`` says ``hit`` or ``miss``."""
    payload = await read_json(request)
    validate(ChatCompletionRequest, payload)
    if payload["model"].startswith(ASSISTANT_PREFIX):
        return await assistant_completion(payload, principal, answers, assistants, request.scope)
    key = chat_key(gateway.catalog, payload, principal.tenant) if cache.enabled else None
    cached = await cache.get(key) if key is not None else None
    if cached is not None:
        usage_log.info("usage", extra={"tenant": principal.tenant, "model": payload["model"], "cache": "hit"})
        return _replay(cached, payload)
    chat = gateway.prepare(payload, from_client=True)
    if not chat.stream:
        result = await gateway.complete(chat)
        if key is not None:
            await cache.set(key, result.content)
        usage_log.info("usage", extra={"tenant": principal.tenant, "model": chat.group, **result.usage})
        return Response(result.content, media_type="application/json", headers=_MISS)
    events, stats = await gateway.open_stream(chat)
    if key is not None:
        events = recording(events, lambda: stats.usage, cache, key)
    return StreamingResponse(
        guard_stream(events, request.scope, on_close=_usage_logger(stats, principal.tenant, chat.group)),
        media_type=sse.MEDIA_TYPE,
        headers={**sse.HEADERS, **_MISS},
    )


def _replay(body: bytes, payload: dict[str, Any]) -> Response:
    """A cached completion: its stored bytes, or, for a stream, the SSE chunks that carry it."""
    if not payload.get("stream"):
        return Response(body, media_type="application/json", headers=_HIT)
    include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
    # the whole stream at once: every event is at hand, and a plain body is valid SSE
    events = b"".join(replay_stream(body, include_usage))
    return Response(events, media_type=sse.MEDIA_TYPE, headers={**sse.HEADERS, **_HIT})


def _usage_logger(stats: StreamStats, tenant: str, group: str) -> Callable[[], None]:
    """The usage line of a stream, written when it ends, however it ends."""

    def log_usage() -> None:
        usage_log.info(
            "usage",
            extra={
                "tenant": tenant,
                "model": group,
                "stream": True,
                "ttft_ms": round((stats.first_token_s or 0) * 1000, 2),
                **stats.usage,
            },
        )

    return log_usage
