"""Which chat completions are cached, under which key, and how a stored one is replayed as a stream.

A request is cacheable when its output is determined by the request: ``temperature`` 0, or a ``seed``. The
key is the model group (and the upstream models behind it) plus every field of the request except those that
do not change the answer (``model`` is replaced by its group; ``stream``, ``stream_options``, ``user``).
Streaming and non-streaming requests share the key: what is stored is always the non-streaming completion
body, and a streaming hit replays it as SSE chunks. A streamed miss is assembled into that body when the
stream ended cleanly with plain text choices (no tool calls, no logprobs); otherwise it is not stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import orjson

from inference import sse
from inference.cache import Cache, cache_key
from inference.catalog import ModelCatalog

_NOT_IN_KEY = frozenset({"model", "stream", "stream_options", "user"})


def is_deterministic(payload: Mapping[str, Any]) -> bool:
    temperature = payload.get("temperature")
    seed = payload.get("seed")
    return temperature == 0 or (isinstance(seed, int) and not isinstance(seed, bool))


def chat_key(catalog: ModelCatalog, payload: Mapping[str, Any], tenant: str = "") -> str | None:
    """The cache key of a chat completion request, or None when it is not cacheable. Answers are cached per
    tenant: another tenant asking the same thing gets its own answer, and cannot learn from a fast reply
    that someone else asked it."""
    if not is_deterministic(payload):
        return None
    group = catalog.resolve(payload["model"])
    upstreams = sorted(d.upstream_model for d in catalog.deployments_of(group))
    request = {k: v for k, v in payload.items() if k not in _NOT_IN_KEY}
    return cache_key("chat", tenant, group, upstreams, request)


def replay_stream(body: bytes, include_usage: bool) -> list[bytes]:
    """A stored completion body as the SSE events a stream of it would have sent, ``[DONE]`` last."""
    data = orjson.loads(body)
    head = {
        "id": data.get("id"),
        "object": "chat.completion.chunk",
        "created": data.get("created"),
        "model": data.get("model"),
    }
    if data.get("system_fingerprint"):
        head["system_fingerprint"] = data["system_fingerprint"]
    events: list[dict[str, Any]] = []
    choices = data.get("choices") or []
    for choice in choices:
        message = choice.get("message") or {}
        delta: dict[str, Any] = {
            "role": message.get("role") or "assistant",
            "content": message.get("content"),
        }
        if message.get("tool_calls"):
            delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]
        events.append({**head, "choices": [_choice(choice, delta, None)]})
    for choice in choices:
        events.append({**head, "choices": [_choice(choice, {}, choice.get("finish_reason") or "stop")]})
    if include_usage and data.get("usage"):
        events.append({**head, "choices": [], "usage": data["usage"]})
    return [sse.frame(event) for event in events] + [sse.DONE]


def _choice(choice: Mapping[str, Any], delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {"index": choice.get("index", 0), "delta": delta, "logprobs": None, "finish_reason": finish}


class StreamAssembler:
    """Collects a relayed stream's chunks into the completion body a non-streaming request would get."""

    def __init__(self) -> None:
        self.head: dict[str, Any] = {}
        self.texts: dict[int, list[str]] = {}
        self.finish: dict[int, str | None] = {}
        self.done = False
        self.usable = True

    def feed(self, event: bytes) -> None:
        data = sse.event_data(event)
        if not data:
            return
        if data == sse.DONE_DATA:
            self.done = True
            return
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            self.usable = False
            return
        if not isinstance(chunk, dict) or "error" in chunk:
            self.usable = False
            return
        if not self.head:
            self.head = {k: chunk.get(k) for k in ("id", "created", "model", "system_fingerprint")}
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("tool_calls") or delta.get("function_call") or choice.get("logprobs"):
                self.usable = False
            index = int(choice.get("index", 0))
            self.texts.setdefault(index, [])
            if delta.get("content"):
                self.texts[index].append(delta["content"])
            if choice.get("finish_reason"):
                self.finish[index] = choice["finish_reason"]

    def completion(self, usage: Mapping[str, int]) -> bytes | None:
        """The assembled body, or None when the stream cannot be stored (broken, errors, tool calls)."""
        if not (self.done and self.usable and self.texts and self.head.get("id")):
            return None
        body: dict[str, Any] = {
            "id": self.head["id"],
            "object": "chat.completion",
            "created": self.head.get("created"),
            "model": self.head.get("model"),
            "choices": [
                {
                    "index": index,
                    "message": {"role": "assistant", "content": "".join(parts)},
                    "logprobs": None,
                    "finish_reason": self.finish.get(index) or "stop",
                }
                for index, parts in sorted(self.texts.items())
            ],
            "usage": dict(usage),
        }
        if self.head.get("system_fingerprint"):
            body["system_fingerprint"] = self.head["system_fingerprint"]
        return orjson.dumps(body)


async def recording(
    events: AsyncIterator[bytes], usage: Callable[[], Mapping[str, int]], cache: Cache, key: str
) -> AsyncIterator[bytes]:
    """Relay ``events`` unchanged; when the stream ended cleanly, store it assembled under ``key``.
    ``usage()`` gives the stream's usage, complete once the events end."""
    assembler = StreamAssembler()
    async for event in events:
        assembler.feed(event)
        yield event
    body = assembler.completion(usage())
    if body is not None:
        await cache.set(key, body)
