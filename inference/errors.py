"""Errors of the model gateway.

    InferenceError
    ├── InvalidRequest            the request itself is wrong (400)
    │   └── ContextLengthExceeded the prompt does not fit the model's context (400, context_length_exceeded)
    ├── ModelNotFound             no model or alias by that name (404, model_not_found)
    ├── BackendUnavailable        no deployment could answer: refused, crashed, cooling down (503)
    │   └── BackendTimeout        a deployment did not answer in time, or sent no first token in time (504)
    ├── UpstreamError             a deployment answered with an error Hearth cannot fix (502)
    │   └── UpstreamStreamError   a stream failed after it started: an error event, or the deployment stopped
    ├── ModelIntegrityError       a model file is missing, incomplete or has the wrong checksum
    └── EngineError               the embedded engine could not be started or supervised

The API maps each to a status code and the OpenAI error shape (:func:`error_body`) in one place
(api/errors.py); one raised after a stream started reaches the client as an SSE error event instead.
"""

from __future__ import annotations

from typing import Any


def error_body(
    message: str, type: str = "server_error", code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """The OpenAI error shape, in a JSON error response and in an SSE error event alike."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


class InferenceError(Exception):
    """Base of every error raised by the inference package."""

    code: str = "inference_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class InvalidRequest(InferenceError):
    code = "invalid_request"


class ContextLengthExceeded(InvalidRequest):
    code = "context_length_exceeded"


class ModelNotFound(InferenceError):
    code = "model_not_found"

    def __init__(self, model: str) -> None:
        super().__init__(f"The model '{model}' does not exist", param="model")
        self.model = model


class BackendUnavailable(InferenceError):
    code = "backend_unavailable"


class BackendTimeout(BackendUnavailable):
    code = "backend_timeout"


class UpstreamError(InferenceError):
    code = "upstream_error"

    def __init__(self, message: str, *, status_code: int = 502, param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.status_code = status_code


class UpstreamStreamError(UpstreamError):
    """A stream failed after its first token: the deployment sent an error event, or stopped mid-answer.

    ``code`` is the event's own when it has one (the gateway's ``backend_unavailable`` for a deployment that
    died), so a RAG answer reports the failure as a stream from /v1/chat/completions does."""

    code = "upstream_stream_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, status_code=502)
        if code:
            self.code = code


class ModelIntegrityError(InferenceError):
    code = "model_integrity_error"


class EngineError(InferenceError):
    code = "engine_error"
