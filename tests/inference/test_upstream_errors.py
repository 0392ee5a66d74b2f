"""inference.upstream.map_status_error: an upstream's HTTP error becomes the LiteLLM exception whose
handling (retry, cooldown, fallback, status to the client) fits it."""

from __future__ import annotations

import asyncio
import dataclasses

import litellm
import orjson
import pytest
from aiohttp import web

from inference.catalog import Deployment
from inference.upstream import UpstreamClient, map_status_error

DEPLOYMENT = Deployment(
    id="d0",
    model_name="default",
    provider="openai",
    upstream_model="m",
    api_base="http://127.0.0.1:1/v1",
    api_key=None,
    context_window=2048,
    tokenizer="approx",
    embedded=True,
)

# what llama_cpp.server 0.3.36 (error_message_wrapper) answers to a body it cannot validate, as logged here
LLAMA_CPP_VALIDATION = orjson.dumps(
    {
        "error": {
            "message": "2 validation errors:\n  {'type': 'float_type', 'loc': ('body', 'temperature'), "
            "'msg': 'Input should be a valid number', 'input': None}\n",
            "type": "internal_server_error",
        }
    }
)


@pytest.mark.parametrize(
    ("status", "content", "expected"),
    [
        (400, b'{"error": {"message": "bad"}}', litellm.BadRequestError),
        (400, b'{"error": {"message": "exceeds the context length"}}', litellm.ContextWindowExceededError),
        (401, b"{}", litellm.AuthenticationError),
        (404, b"{}", litellm.NotFoundError),
        (429, b"{}", litellm.RateLimitError),
        (503, b"{}", litellm.ServiceUnavailableError),
        (500, LLAMA_CPP_VALIDATION, litellm.BadRequestError),
        (500, b'{"error": {"message": "CUDA out of memory"}}', litellm.InternalServerError),
        (500, b"not json", litellm.InternalServerError),
    ],
)
def test_status_errors_map_to_litellm_exceptions(status: int, content: bytes, expected: type) -> None:
    error = map_status_error(DEPLOYMENT, status, content)
    assert type(error) is expected


def test_a_long_prompt_gets_more_time_for_its_first_token() -> None:
    """An engine reads the whole prompt before its first token: the timeout grows with the prompt."""

    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(1.5)  # "reading the prompt"
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'data: {"choices": []}\n\n')
        return response

    async def scenario() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", slow)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        deployment = dataclasses.replace(DEPLOYMENT, api_base=f"http://127.0.0.1:{port}/v1")
        client = UpstreamClient(request_timeout_s=10, first_token_timeout_s=0.5, prompt_tokens_per_s=100)
        try:
            assert client.first_token_timeout(0) == 0.5 and client.first_token_timeout(300) == 3.5
            with pytest.raises(litellm.Timeout, match="no first token within 1s"):
                await client.open_stream(deployment, "/chat/completions", b"{}", prompt_tokens=50)
            stream = await client.open_stream(deployment, "/chat/completions", b"{}", prompt_tokens=300)
            assert stream.first.startswith(b"data:")
            await stream.aclose()
        finally:
            await client.aclose()
            await runner.cleanup()

    asyncio.run(scenario())
