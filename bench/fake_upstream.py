"""A trivial, instant OpenAI-shaped upstream (raw asyncio HTTP/1.1 with keep-alive), so a benchmark measures
the gateway's own cost and not a model's. ``python -m bench.fake_upstream PORT [CHUNKS]``."""

from __future__ import annotations

import asyncio
import json
import sys
import time

from inference import sse

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None  # type: ignore[assignment]

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "fake-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there! How can I help?"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20},
    }
).encode()
MODELS = json.dumps(
    {"object": "list", "data": [{"id": "fake-model", "object": "model", "created": 0, "owned_by": "bench"}]}
).encode()


def _chunk(content: str | None, finish: str | None = None, usage: dict | None = None) -> bytes:
    choices = (
        []
        if usage
        else [{"index": 0, "delta": {"content": content} if content else {}, "finish_reason": finish}]
    )
    body = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "fake-model",
        "choices": choices,
    }
    if usage:
        body["usage"] = usage
    return sse.frame(body)


def stream_body(chunks: int, include_usage: bool) -> bytes:
    parts = [_chunk(f"tok{i} ") for i in range(chunks)] + [_chunk(None, "stop")]
    if include_usage:
        parts.append(
            _chunk(
                None, usage={"prompt_tokens": 12, "completion_tokens": chunks, "total_tokens": 12 + chunks}
            )
        )
    parts.append(sse.DONE)
    return b"".join(parts)


class Handler(asyncio.Protocol):
    chunks = 32

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            total = head_end + 4 + length
            if len(self.buffer) < total:
                return
            body = self.buffer[head_end + 4 : total]
            self.buffer = self.buffer[total:]
            self.respond(head.split(" ", 2)[1], body)

    def respond(self, path: str, body: bytes) -> None:
        if path.endswith("/models"):
            self._send(b"application/json", MODELS)
            return
        stream = b'"stream":true' in body.replace(b" ", b"")
        if not stream:
            self._send(b"application/json", COMPLETION)
            return
        include_usage = b'"include_usage":true' in body.replace(b" ", b"")
        payload = stream_body(self.chunks, include_usage)
        self._send(sse.MEDIA_TYPE.encode(), payload)

    def _send(self, content_type: bytes, payload: bytes) -> None:
        self.transport.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: "
            + content_type
            + b"\r\ncontent-length: "
            + str(len(payload)).encode()
            + b"\r\nconnection: keep-alive\r\n\r\n"
            + payload
        )


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Handler, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    port = int(sys.argv[1])
    if len(sys.argv) > 2:
        Handler.chunks = int(sys.argv[2])
    if uvloop is not None:
        uvloop.install()
    print(f"fake upstream on {port} ({time.strftime('%X')})", flush=True)
    asyncio.run(serve(port))


if __name__ == "__main__":
    main()
