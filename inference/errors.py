"""Errors of the model gateway.

    InferenceError
    ├── InvalidRequest            the request itself is wrong (400)
    │   └── ContextLengthExceeded the prompt does not fit the model's context (400, context_length_exceeded)
    ├── ModelNotFound             no model or alias by that name (404, model_not_found)
    ├── BackendUnavailable        no deployment could answer: refused, crashed, cooling down (503)
    │   └── BackendTimeout        a deployment did not answer in time, or sent no first token in time (504)
    ├── UpstreamError             a deployment answered with an error Hearth cannot fix (502)
    ├── ModelIntegrityError       a model file is missing, incomplete or has the wrong checksum
    └── EngineError               the embedded engine could not be started or supervised

The API maps each to a status code and the OpenAI error shape in one place (api/errors.py).
"""

from __future__ import annotations


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


class ModelIntegrityError(InferenceError):
    code = "model_integrity_error"


class EngineError(InferenceError):
    code = "engine_error"
