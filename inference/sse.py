"""Server-sent events as the OpenAI API streams them: ``data: <json>\\n\\n`` events, ``data: [DONE]`` last.

Every stream Hearth sends (chat completions, RAG answers, replays from the cache) is framed here, and every
stream it reads (the gateway's relay, RAG answers, the cache's recorder, benchmarks, tests) is parsed here.
A failure after a stream has started cannot change its status any more, so it is sent as one error event in
the OpenAI error shape (``data: {"error": {"message", "type", "param", "code"}}``), then ``[DONE]``.

The gateway relays upstream events as they arrive: :func:`split_events` and :func:`event_data` cut and read
them without decoding anything; only :func:`parse_data` and :func:`iter_events` decode JSON.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any

import orjson

from inference.errors import InferenceError, UpstreamStreamError, error_body

MEDIA_TYPE = "text/event-stream"
# no caching, and no buffering in nginx-like proxies: each event must reach the client when it is sent
HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
DONE = b"data: [DONE]\n\n"
DONE_DATA = b"[DONE]"

_EVENT_SPLIT = re.compile(rb"\r?\n\r?\n")


# -- sending -----------------------------------------------------------------------------------------------


def frame(data: Mapping[str, Any] | bytes) -> bytes:
    """One event: a JSON object, or JSON already encoded (bytes, sent untouched)."""
    payload = data if isinstance(data, bytes) else orjson.dumps(data)
    return b"data: " + payload + b"\n\n"


def error_frame(
    error: InferenceError | str,
    *,
    type: str = "server_error",
    code: str | None = None,
    param: str | None = None,
) -> bytes:
    """An error event: an InferenceError's message, code and param, or a message and these. The API maps
    any other exception with ``api.errors.classify`` first (``api.errors.sse_error``)."""
    if isinstance(error, InferenceError):
        return frame(error_body(error.message, type, code or error.code, param or error.param))
    return frame(error_body(error, type, code, param))


# -- reading -----------------------------------------------------------------------------------------------


def split_events(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The complete events at the head of ``buffer``, and the rest (the start of an event still arriving)."""
    *events, rest = _EVENT_SPLIT.split(buffer)
    return events, rest


def event_data(event: bytes) -> bytes:
    """What an event's ``data:`` lines carry, joined (b"" for a comment or a keep-alive); not decoded."""
    return b"".join(line[5:].lstrip() for line in event.splitlines() if line.startswith(b"data:"))


def is_done(event: bytes | str) -> bool:
    """Whether an event (or a ``data:`` line) is the ``[DONE]`` that ends a stream."""
    return event_data(event.encode() if isinstance(event, str) else event) == DONE_DATA


def parse_data(event: bytes | str) -> Any:
    """The decoded JSON of one event, or of one ``data:`` line; None for a comment, a keep-alive or
    ``[DONE]``."""
    data = event_data(event.encode() if isinstance(event, str) else event)
    if not data or data == DONE_DATA:
        return None
    return orjson.loads(data)


def stream_error(payload: Any) -> UpstreamStreamError | None:
    """The exception an OpenAI error event stands for (None for any other payload)."""
    if not isinstance(payload, dict) or "error" not in payload:
        return None
    error = payload["error"]
    if isinstance(error, dict):
        message = str(error.get("message") or "the model failed in the middle of the answer")
        code = error.get("code")
        return UpstreamStreamError(message, code=str(code) if code else None)
    return UpstreamStreamError(str(error))


async def iter_events(stream: AsyncIterable[bytes], *, raise_errors: bool = True) -> AsyncIterator[Any]:
    """The decoded payloads of an SSE byte stream (cut anywhere), in order, until ``[DONE]`` or its end.
    An error event raises :class:`UpstreamStreamError` (unless ``raise_errors`` is false: then it is
    yielded like any payload)."""
    buffer = b""
    async for piece in stream:
        events, buffer = split_events(buffer + piece)
        for event in events:
            data = event_data(event)
            if data == DONE_DATA:
                return
            if data:
                yield _checked(orjson.loads(data), raise_errors)
    data = event_data(buffer)
    if data and data != DONE_DATA:
        yield _checked(orjson.loads(data), raise_errors)


def parse_events(body: bytes | str | Iterable[bytes | str], *, raise_errors: bool = True) -> list[Any]:
    """:func:`iter_events` for a body at hand (bytes or text), or for its lines (``iter_lines()``)."""
    if isinstance(body, str):
        body = body.encode()
    chunks = [body] if isinstance(body, bytes) else [_line(line) for line in body]
    payloads = []
    events, rest = split_events(b"".join(chunks))
    for event in [*events, rest]:
        data = event_data(event)
        if data == DONE_DATA:
            break
        if data:
            payloads.append(_checked(orjson.loads(data), raise_errors))
    return payloads


def _line(line: bytes | str) -> bytes:
    """A line as ``iter_lines()`` gives it (no line end) back as bytes with one."""
    return (line.encode() if isinstance(line, str) else line) + b"\n"


def _checked(payload: Any, raise_errors: bool) -> Any:
    if raise_errors:
        error = stream_error(payload)
        if error is not None:
            raise error
    return payload
