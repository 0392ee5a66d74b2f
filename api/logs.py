"""Structured JSON logs, request ids, and request/response logging with secrets redacted.

``RequestLogMiddleware`` is plain ASGI (no BaseHTTPMiddleware: it would buffer streams and cost a task per
request). Every request gets an id (the client's ``x-request-id`` when it is sane, else a new one), returned
as ``x-request-id`` and attached to every log line written while the request runs.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time
import uuid
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("hearth_request_id", default=None)
access_log = logging.getLogger("hearth.access")

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_SECRET_KEYS = re.compile(
    rb'("(?:api_key|apikey|password|secret|token|access_token|authorization|key)"\s*:\s*)"[^"]*"', re.I
)
_BEARER = re.compile(rb"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.I)
_KEY_LITERAL = re.compile(rb"\bhk-[A-Za-z0-9_-]{8,}")
_STD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI copy of the message
    "litellm_redacted",  # a marker LiteLLM's log filter adds to every record
}


def redact(body: bytes, limit: int) -> str:
    """Secrets out, then cut to ``limit`` characters."""
    cleaned = _SECRET_KEYS.sub(rb'\1"[REDACTED]"', body[: limit * 4])
    cleaned = _BEARER.sub(rb"\1[REDACTED]", cleaned)
    cleaned = _KEY_LITERAL.sub(b"hk-[REDACTED]", cleaned)
    text = cleaned.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + f"...[{len(body)} bytes]"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "info", json_logs: bool = True) -> None:
    """Idempotent: one handler on the root logger, JSON or plain text."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    formatter: logging.Formatter
    if json_logs:
        formatter = JsonFormatter()
        formatter.converter = time.gmtime
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(formatter)
    handler.set_name("hearth")
    root.handlers = [h for h in root.handlers if h.get_name() != "hearth"] + [handler]
    root.setLevel(level.upper())
    # LiteLLM and httpx are chatty at INFO; their failures still surface through Hearth's own logs
    for noisy in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").disabled = True


class RequestLogMiddleware:
    """Request id + one access-log line per request (bodies truncated and redacted when enabled)."""

    def __init__(self, app: ASGIApp, *, log_bodies: bool = True, body_limit: int = 1024) -> None:
        self.app = app
        self.log_bodies = log_bodies
        self.body_limit = body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if incoming and _SAFE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        request_body = bytearray()
        response_body = bytearray()
        limit = self.body_limit * 4
        log_bodies = self.log_bodies

        async def logged_receive() -> Message:
            message = await receive()
            if log_bodies and message["type"] == "http.request" and len(request_body) < limit:
                request_body.extend(message.get("body", b"")[: limit - len(request_body)])
            return message

        async def logged_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            elif log_bodies and message["type"] == "http.response.body" and len(response_body) < limit:
                response_body.extend(message.get("body", b"")[: limit - len(response_body)])
            await send(message)

        try:
            await self.app(scope, logged_receive if log_bodies else receive, logged_send)
        finally:
            state = scope.get("state", {})
            extra: dict[str, Any] = {
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "key": state.get("key_name"),
            }
            if log_bodies and request_body:
                extra["request_body"] = redact(bytes(request_body), self.body_limit)
            if log_bodies and response_body:
                extra["response_body"] = redact(bytes(response_body), self.body_limit)
            access_log.info("%s %s %s", scope["method"], scope["path"], status, extra=extra)
            request_id_var.reset(token)
