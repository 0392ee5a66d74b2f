"""What one request consumed: the gateway reports every model call's usage (:func:`report_gateway_usage`,
wired in the container), so chat, RAG answers, summaries and reports are all counted; the metrics middleware
(:mod:`api.metrics`) reads it when the answer is complete (streams included) and turns it into Prometheus
counters, the per-key daily usage counters and the tokens-per-minute windows.

The accumulator lives in a context variable the middleware sets per request, so a route or a stream
generator reports without carrying the request around; outside a request, reporting does nothing.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RequestUsage:
    # (model, prompt_tokens, completion_tokens) per model call the request answered with
    tokens: list[tuple[str, int, int]] = field(default_factory=list)
    # (model, seconds) time to first token of each stream
    first_token: list[tuple[str, float]] = field(default_factory=list)

    @property
    def prompt_tokens(self) -> int:
        return sum(entry[1] for entry in self.tokens)

    @property
    def completion_tokens(self) -> int:
        return sum(entry[2] for entry in self.tokens)


current_usage: contextvars.ContextVar[RequestUsage | None] = contextvars.ContextVar(
    "hearth_request_usage", default=None
)


def report_usage(model: str, usage: Mapping[str, Any] | None, *, first_token_s: float | None = None) -> None:
    """Count a model call's ``usage`` (OpenAI shape) against the current request."""
    request = current_usage.get()
    if request is None:
        return
    if usage:
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        if prompt or completion:
            request.tokens.append((model, prompt, completion))
    if first_token_s is not None:
        request.first_token.append((model, first_token_s))


def report_gateway_usage(model: str, usage: dict[str, int], first_token_s: float | None) -> None:
    """The gateway's usage observer: every model call (chat, RAG, summaries, reports) is counted."""
    report_usage(model, usage, first_token_s=first_token_s)
