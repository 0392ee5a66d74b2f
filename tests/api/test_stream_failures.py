"""A model backend that fails in the middle of a streamed answer: the client gets the events so far, one SSE
error event in the OpenAI shape (mapped by api.errors.classify) and ``[DONE]``, never a 500 or a cut
connection. The bug this pins: a RAG answer's failure surfaced as a bare RuntimeError, i.e. an
``internal_error`` event that hid the backend's message and code.

A real server whose only model provider is a small fake OpenAI-compatible upstream (embeddings, and chat
streams that send two chunks and then fail: with an error event of their own, or by closing the connection).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from inference import sse
from tests.support import ServerProcess, start_server

pytestmark = pytest.mark.slow

GULLWING = b"# Boats\n\nThe supply boat Gullwing arrives on the first Tuesday of each month.\n"
OOM = {"error": {"message": "CUDA out of memory", "type": "server_error", "code": "out_of_memory"}}


class BreakingUpstream:
    """An OpenAI-compatible server: constant embeddings (every passage is relevant), and chat completion
    streams that fail after two chunks as ``mode`` says: ``error`` (an error event, then [DONE]) or ``cut``
    (the connection closes without [DONE])."""

    def __init__(self) -> None:
        self.mode = "error"
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                if self.path.endswith("/embeddings"):
                    texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    data = [
                        {"object": "embedding", "index": i, "embedding": [1.0, 0, 0, 0]}
                        for i in range(len(texts))
                    ]
                    self._json({"object": "list", "data": data, "model": body["model"]})
                elif body.get("stream"):
                    self._stream(upstream.mode)
                else:
                    self._json(_completion("The supply boat arrives on the first Tuesday."))

            def _json(self, payload: dict[str, Any]) -> None:
                content = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def _stream(self, mode: str) -> None:
                self.send_response(200)
                self.send_header("content-type", sse.MEDIA_TYPE)
                self.send_header("connection", "close")
                self.end_headers()
                events = [sse.frame(_chunk(text)) for text in ("The supply boat ", "Gullwing arrives")]
                if mode == "error":
                    events += [sse.frame(OOM), sse.DONE]
                # in one write, so that the gateway reads the whole stream at once (its first read was once
                # relayed as one event: every chunk's data run together)
                self.wfile.write(b"".join(events))
                self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _chunk(text: str) -> dict[str, Any]:
    choice = {"index": 0, "delta": {"content": text}, "finish_reason": None}
    return {"id": "chatcmpl-f", "object": "chat.completion.chunk", "created": 1, "choices": [choice]}


def _completion(text: str) -> dict[str, Any]:
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    usage = {"prompt_tokens": 9, "completion_tokens": 9, "total_tokens": 18}
    return {
        "id": "chatcmpl-f",
        "object": "chat.completion",
        "created": 1,
        "choices": [choice],
        "usage": usage,
    }


@pytest.fixture(scope="module")
def upstream() -> Iterator[BreakingUpstream]:
    fake = BreakingUpstream()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, upstream: BreakingUpstream) -> Iterator[ServerProcess]:
    data_dir: Path = tmp_path_factory.mktemp("stream-failures")
    deployment = {"model": "openai/fake-chat", "api_base": upstream.url, "api_key": "none"}
    models = {
        "model_list": [
            {
                "model_name": "default",
                "litellm_params": deployment,
                "model_info": {"id": "fake", "context_window": 4096, "tokenizer": "approx"},
            }
        ]
    }
    models_file = data_dir / "models.yaml"
    models_file.write_text(yaml.safe_dump(models))
    embedder = {"name": "fake-embed", "kind": "openai", "api_base": upstream.url, "remote_model": "fake"}
    server = start_server(
        data_dir,
        env={
            "HEARTH_ENGINE__ENABLED": "false",
            "HEARTH_GATEWAY__MODELS_FILE": str(models_file),
            "HEARTH_EMBEDDINGS__MODELS": json.dumps([embedder]),
            "HEARTH_EMBEDDINGS__DEFAULT": "fake-embed",
        },
    )
    with _http(server) as client:
        assert client.post("/v1/collections", json={"name": "manual"}).status_code == 201
        files = {"file": ("boats.md", GULLWING)}
        assert client.post("/v1/collections/manual/documents", files=files).status_code == 201
    yield server
    server.stop()


def _http(server: ServerProcess) -> httpx.Client:
    headers = {"authorization": f"Bearer {server.api_key}"}
    return httpx.Client(base_url=server.base_url, headers=headers, timeout=60)


def _events(server: ServerProcess, path: str, body: dict[str, Any]) -> tuple[list[Any], list[str]]:
    """(every payload, error events included; the raw lines) of one streamed answer."""
    with _http(server) as client, client.stream("POST", path, json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(sse.MEDIA_TYPE)
        lines = list(response.iter_lines())
    return sse.parse_events(lines, raise_errors=False), [line for line in lines if line]


QUESTION = "When does the supply boat Gullwing arrive?"


@pytest.mark.parametrize(
    ("path", "mode", "code"),
    [
        ("/v1/collections/manual/query", "error", "out_of_memory"),
        ("/v1/collections/manual/query", "cut", "backend_unavailable"),
        ("/v1/assistants/manual-qa/ask", "error", "out_of_memory"),
    ],
)
def test_a_rag_answer_whose_backend_fails_mid_stream_ends_with_one_error_event(
    server: ServerProcess, upstream: BreakingUpstream, path: str, mode: str, code: str
) -> None:
    upstream.mode = mode
    events, lines = _events(server, path, {"question": QUESTION, "stream": True})
    assert lines[-1] == "data: [DONE]"
    errors = [event for event in events if "error" in event]
    assert errors == [events[-1]], events  # one error event, last
    assert errors[0]["error"]["type"] == "server_error" and errors[0]["error"]["code"] == code
    # only checked text went out before it (the gate holds an unfinished sentence), then no citations or done
    assert all(event.get("type") == "delta" for event in events[:-1]), events


def test_an_assistant_chat_completion_stream_ends_with_the_same_error_event(
    server: ServerProcess, upstream: BreakingUpstream
) -> None:
    upstream.mode = "error"
    messages = [{"role": "user", "content": QUESTION}]
    body = {"model": "assistant/manual-qa", "stream": True, "messages": messages}
    events, lines = _events(server, "/v1/chat/completions", body)
    assert events[0]["choices"][0]["delta"]["role"] == "assistant" and lines[-1] == "data: [DONE]"
    assert events[-1] == {"error": {**OOM["error"], "param": None}}
    assert not any(choice.get("finish_reason") for event in events for choice in event.get("choices", []))


def test_a_plain_chat_stream_cut_by_its_backend_ends_with_the_gateways_error_event(
    server: ServerProcess, upstream: BreakingUpstream
) -> None:
    upstream.mode = "cut"
    body = {"model": "default", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    events, lines = _events(server, "/v1/chat/completions", body)
    text = "".join(event["choices"][0]["delta"]["content"] for event in events[:-1])
    assert text == "The supply boat Gullwing arrives"
    assert events[-1]["error"]["code"] == "backend_unavailable" and lines[-1] == "data: [DONE]"
