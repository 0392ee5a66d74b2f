"""inference.upstream.map_status_error: an upstream's HTTP error becomes the LiteLLM exception whose
handling (retry, cooldown, fallback, status to the client) fits it."""

from __future__ import annotations

import litellm
import orjson
import pytest

from inference.catalog import Deployment
from inference.upstream import map_status_error

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
