"""inference.sse: framing, and parsing a stream cut anywhere; an error event is an UpstreamStreamError."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from inference import sse
from inference.errors import BackendUnavailable, UpstreamStreamError

CHUNK = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "안녕"}}]}


def test_frames() -> None:
    assert sse.frame({"a": 1}) == b'data: {"a":1}\n\n'
    assert sse.frame(b'{"a":1}') == b'data: {"a":1}\n\n'  # encoded JSON is sent untouched
    assert sse.DONE == b"data: [DONE]\n\n"
    died = BackendUnavailable("the model server stopped in the middle of the answer")
    assert orjson.loads(sse.error_frame(died)[6:]) == {
        "error": {
            "message": "the model server stopped in the middle of the answer",
            "type": "server_error",
            "param": None,
            "code": "backend_unavailable",
        }
    }
    refused = orjson.loads(sse.error_frame("no", type="invalid_request_error", code="x", param="p")[6:])
    assert refused["error"] == {"message": "no", "type": "invalid_request_error", "param": "p", "code": "x"}


def test_parse_data() -> None:
    assert sse.parse_data(sse.frame(CHUNK)) == CHUNK
    assert sse.parse_data('data: {"a": 1}') == {"a": 1}  # a line, as iter_lines() gives it
    assert sse.parse_data(b"data:[1,\ndata: 2]\n\n") == [1, 2]  # several data lines make one event
    for nothing in (b": keep-alive\n\n", b"", "event: ping", sse.DONE, "data: [DONE]"):
        assert sse.parse_data(nothing) is None
    assert sse.is_done("data: [DONE]") and sse.is_done(sse.DONE) and not sse.is_done(sse.frame(CHUNK))


def test_split_events_keeps_the_unfinished_one() -> None:
    events, rest = sse.split_events(b'data: {"a":1}\r\n\r\ndata: {"b":2}\n\ndata: {"c"')
    assert events == [b'data: {"a":1}', b'data: {"b":2}'] and rest == b'data: {"c"'


async def _pieces(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def _collect(body: bytes, size: int, **options: bool) -> list[object]:
    return [payload async for payload in sse.iter_events(_pieces(body, size), **options)]


@pytest.mark.parametrize("size", [1, 7, 1000])
def test_iter_events_reads_a_stream_cut_anywhere_and_stops_at_done(size: int) -> None:
    body = b": hello\n\n" + sse.frame(CHUNK) + sse.frame({"n": 2}) + sse.DONE + sse.frame({"after": "done"})
    assert asyncio.run(_collect(body, size)) == [CHUNK, {"n": 2}]
    assert sse.parse_events(body) == [CHUNK, {"n": 2}]
    assert sse.parse_events(body.decode().splitlines()) == [CHUNK, {"n": 2}]  # lines, as iter_lines()
    # a stream that ends without [DONE] (or without its last blank line) still gives every event
    assert asyncio.run(_collect(sse.frame(CHUNK) + b'data: {"n": 2}', size)) == [CHUNK, {"n": 2}]


def test_an_error_event_raises_upstream_stream_error_with_its_code() -> None:
    died = sse.error_frame(BackendUnavailable("the model server stopped in the middle of the answer"))
    body = sse.frame(CHUNK) + died + sse.DONE
    with pytest.raises(UpstreamStreamError, match="stopped in the middle") as caught:
        asyncio.run(_collect(body, 5))
    assert caught.value.code == "backend_unavailable" and caught.value.status_code == 502
    assert sse.parse_events(body, raise_errors=False)[1]["error"]["code"] == "backend_unavailable"
    with pytest.raises(UpstreamStreamError) as plain:  # an upstream's error without a code
        sse.parse_events(b'data: {"error": {"message": "CUDA out of memory"}}\n\n')
    assert plain.value.code == "upstream_stream_error" and plain.value.message == "CUDA out of memory"
    assert sse.stream_error(CHUNK) is None
