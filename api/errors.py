"""Every error leaves the API in the OpenAI shape ``{"error": {"message", "type", "param", "code"}}``.

The packages raise their own exception trees (inference.errors, indexing.errors, storage.errors); this
module maps each to a status code once (:func:`classify`). API-level problems (auth, bad JSON) are
``ApiError``s. Raised before a response starts, an error is a JSON response with that status; raised in the
middle of a stream (:func:`guard_stream`), the same mapping gives one SSE error event, then ``[DONE]``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from api.logs import request_id_var
from api.monitoring import record_error
from indexing.errors import EmbeddingBackendError, EmbeddingInputError, IndexingError, UnknownEmbeddingModel
from inference import sse
from inference.errors import (
    BackendTimeout,
    BackendUnavailable,
    ContextLengthExceeded,
    InferenceError,
    InvalidRequest,
    ModelNotFound,
    UpstreamError,
    error_body,
)
from storage.errors import DatabaseUnavailable, RedisUnavailable, StorageError
from workers.errors import InvalidBatch, JobNotFound, QueueUnavailable, WorkerError
from workers.reports.errors import ReportError

log = logging.getLogger("hearth.api")

# indexing errors by code; anything else in that tree is a 400
INDEXING_STATUS = {
    "collection_not_found": 404,
    "document_not_found": 404,
    "embedder_mismatch": 409,
    "unsupported_document_type": 415,
    "document_too_large": 413,
    "unreadable_document": 422,
    "no_extractable_text": 422,
    "summary_failed": 502,
    "vector_store_unavailable": 503,
    "vector_store_error": 503,
}

# report errors by code (workers/reports/errors.py); anything else in that tree is a 400
REPORT_STATUS = {
    "invalid_ticker": 400,
    "invalid_period": 400,
    "ticker_not_found": 404,
    "report_not_found": 404,
    "market_data_unavailable": 503,
}


class ApiError(Exception):
    """An error decided at the API edge."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers


def error_response(
    status: int,
    message: str,
    type: str,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        orjson.dumps(error_body(message, type, code, param)),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def classify(exc: BaseException) -> tuple[int, str, str | None, str | None, str]:
    """(status, type, code, param, message) for any exception a service may raise."""
    if isinstance(exc, ApiError):
        return exc.status_code, exc.type, exc.code, exc.param, exc.message
    if isinstance(exc, InferenceError):
        message, param = exc.message, exc.param
        if isinstance(exc, ContextLengthExceeded):
            return 400, "invalid_request_error", "context_length_exceeded", param or "messages", message
        if isinstance(exc, InvalidRequest):
            return 400, "invalid_request_error", exc.code, param, message
        if isinstance(exc, ModelNotFound):
            return 404, "invalid_request_error", "model_not_found", "model", message
        if isinstance(exc, BackendTimeout):
            return 504, "server_error", exc.code, None, message
        if isinstance(exc, BackendUnavailable):
            return 503, "server_error", exc.code, None, message
        if isinstance(exc, UpstreamError):
            return exc.status_code, "server_error", exc.code, None, message
        return 500, "server_error", exc.code, None, message
    if isinstance(exc, IndexingError):
        if isinstance(exc, UnknownEmbeddingModel):
            return 404, "invalid_request_error", "model_not_found", "model", exc.message
        if isinstance(exc, EmbeddingInputError):
            return 400, "invalid_request_error", "invalid_input", exc.param or "input", exc.message
        if isinstance(exc, EmbeddingBackendError):
            return 503, "server_error", "embedding_backend_unavailable", None, exc.message
        status = INDEXING_STATUS.get(exc.code, 400)
        type_ = "server_error" if status >= 500 else "invalid_request_error"
        return status, type_, exc.code, getattr(exc, "param", None), exc.message
    if isinstance(exc, WorkerError):
        if isinstance(exc, QueueUnavailable):
            return 503, "server_error", exc.code, None, exc.message
        if isinstance(exc, JobNotFound):
            return 404, "invalid_request_error", exc.code, exc.param, exc.message
        if isinstance(exc, InvalidBatch):
            return 400, "invalid_request_error", exc.code, exc.param, exc.message
        return 500, "server_error", exc.code, None, exc.message
    if isinstance(exc, ReportError):
        status = REPORT_STATUS.get(exc.code, 400)
        type_ = "server_error" if status >= 500 else "invalid_request_error"
        return status, type_, exc.code, exc.param, exc.message
    if isinstance(exc, StorageError):
        if isinstance(exc, DatabaseUnavailable | RedisUnavailable):
            return 503, "server_error", "dependency_unavailable", None, str(exc)
        if exc.code == "collection_exists":
            return 409, "invalid_request_error", exc.code, "name", str(exc)
        return 500, "server_error", "storage_error", None, str(exc)
    return (
        500,
        "server_error",
        "internal_error",
        None,
        "The server had an error while processing your request.",
    )


def sse_error(exc: BaseException, scope: Scope | None = None) -> bytes:
    """A failure after a stream started: one SSE error event (the stream then ends with [DONE]). With the
    request's ``scope``, a server error is also logged and recorded, as a 5xx response would be."""
    status, type_, code, param, message = classify(exc)
    if scope is not None and status >= 500:
        message = _report(scope, exc, code, message)
    return sse.error_frame(message, type=type_, code=code, param=param)


async def guard_stream(
    events: AsyncIterable[bytes], scope: Scope | None = None, *, on_close: Callable[[], None] | None = None
) -> AsyncIterator[bytes]:
    """Relay a streamed response's events. An exception raised once the response has started (a backend
    failing mid-answer: ``UpstreamStreamError``, or anything else) cannot change its status any more: it
    ends the stream with one error event mapped by :func:`classify`, and ``[DONE]``, instead of a cut
    connection. ``on_close`` runs when the stream ends, however it ends."""
    try:
        async for event in events:
            yield event
    except Exception as exc:
        yield sse_error(exc, scope)
        yield sse.DONE
    finally:
        if on_close is not None:
            on_close()


def _report(scope: Scope, exc: BaseException, code: str | None, message: str) -> str:
    """Log and record a server error; the message to send (an unexpected one names the request id)."""
    log.error("%s %s failed: %s", scope.get("method"), scope.get("path"), message, exc_info=exc)
    detail = (str(exc) or message) if code == "internal_error" else message
    record_error(scope, type(exc).__name__, detail, exc)
    if code == "internal_error":
        request_id = request_id_var.get() or scope.get("state", {}).get("request_id")
        message = f"{message} (request id {request_id})"
    return message


def install_error_handlers(app: FastAPI) -> None:
    async def handle_known(request: Request, exc: Exception) -> Response:
        status, type_, code, param, message = classify(exc)
        if status >= 500:
            message = _report(request.scope, exc, code, message)
        headers = exc.headers if isinstance(exc, ApiError) else None
        return error_response(status, message, type_, code, param, headers)

    async def handle_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
        param = ".".join(loc) or None
        message = f"{first.get('msg', 'Invalid request')}" + (f": '{param}'" if param else "")
        return error_response(400, message, "invalid_request_error", "invalid_request", param)

    async def handle_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        type_ = "invalid_request_error" if exc.status_code < 500 else "server_error"
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"Unknown request URL: {request.method} {request.url.path}"
        if exc.status_code >= 500:
            record_error(request.scope, type(exc).__name__, message, exc)
        return error_response(exc.status_code, message, type_, code, None, getattr(exc, "headers", None))

    known = (ApiError, InferenceError, IndexingError, StorageError, WorkerError, ReportError, Exception)
    for exc_type in known:
        app.add_exception_handler(exc_type, handle_known)
    app.add_exception_handler(RequestValidationError, handle_validation)
    app.add_exception_handler(StarletteHTTPException, handle_http)
