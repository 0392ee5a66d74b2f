"""Raw HTTP to OpenAI-compatible upstreams (llama.cpp server, vLLM, Ollama's /v1, any OpenAI URL).

Hearth forwards request and response bytes instead of rebuilding them through LiteLLM's response objects:
on two cores every millisecond of gateway CPU per chunk is taken from the engine. Failures are raised as
LiteLLM's own exception types so that LiteLLM's Router decides retries, cooldowns and fallbacks exactly as
it does for its own calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import litellm
import orjson

from inference.catalog import Deployment


@dataclass
class UpstreamReply:
    """A complete non-streaming response from an upstream."""

    status_code: int
    content: bytes
    deployment_id: str
    _hidden_params: dict[str, Any] | None = None  # LiteLLM's Router annotates responses here


@dataclass
class UpstreamStream:
    """An open SSE stream whose first chunk has already arrived (within the first-token timeout)."""

    first: bytes
    rest: AsyncIterator[bytes]
    response: httpx.Response
    deployment_id: str
    _hidden_params: dict[str, Any] | None = None

    async def aclose(self) -> None:
        await self.response.aclose()


def _error_message(content: bytes) -> str:
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError:
        return content.decode("utf-8", "replace")[:500]
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data))
        if isinstance(error, dict):
            return str(error.get("message") or error)
        return str(error)[:500]
    return str(data)[:500]


def map_status_error(deployment: Deployment, status: int, content: bytes) -> Exception:
    """An upstream's HTTP error → the LiteLLM exception its Router knows how to handle."""
    message = _error_message(content)
    kwargs: dict[str, Any] = {"model": deployment.upstream_model, "llm_provider": deployment.provider}
    lowered = message.lower()
    if status in (400, 413, 422):
        if "context" in lowered and ("length" in lowered or "window" in lowered or "exceed" in lowered):
            return litellm.ContextWindowExceededError(message=message, **kwargs)
        return litellm.BadRequestError(message=message, **kwargs)
    if status in (401, 403):
        return litellm.AuthenticationError(message=message, **kwargs)
    if status == 404:
        return litellm.NotFoundError(message=message, **kwargs)
    if status == 408:
        return litellm.Timeout(message=message, **kwargs)
    if status == 429:
        return litellm.RateLimitError(message=message, **kwargs)
    if status in (502, 503, 504):
        return litellm.ServiceUnavailableError(message=message, **kwargs)
    return litellm.InternalServerError(message=f"upstream answered {status}: {message}", **kwargs)


def map_transport_error(deployment: Deployment, exc: BaseException) -> Exception:
    kwargs: dict[str, Any] = {"model": deployment.upstream_model, "llm_provider": deployment.provider}
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return litellm.Timeout(message=f"{deployment.api_base} did not answer in time", **kwargs)
    # A refused or dropped connection means the deployment is down: a 503 lets the Router cool it down
    # (LiteLLM never cools down on its own APIConnectionError).
    return litellm.ServiceUnavailableError(
        message=f"{deployment.api_base} is unreachable: {type(exc).__name__}: {exc}", **kwargs
    )


class UpstreamClient:
    """Sends prepared request bodies to a deployment over a shared connection pool."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        request_timeout_s: float,
        first_token_timeout_s: float,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self._http = http
        self._timeout = httpx.Timeout(request_timeout_s, connect=connect_timeout_s)
        self._first_token_timeout = first_token_timeout_s

    @staticmethod
    def _headers(deployment: Deployment) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if deployment.api_key and deployment.api_key.lower() not in ("none", ""):
            headers["authorization"] = f"Bearer {deployment.api_key}"
        return headers

    async def post(self, deployment: Deployment, path: str, body: bytes) -> UpstreamReply:
        url = f"{deployment.api_base}{path}"
        try:
            response = await self._http.post(
                url, content=body, headers=self._headers(deployment), timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            raise map_transport_error(deployment, exc) from exc
        if response.status_code >= 400:
            raise map_status_error(deployment, response.status_code, response.content)
        return UpstreamReply(response.status_code, response.content, deployment.id)

    async def open_stream(self, deployment: Deployment, path: str, body: bytes) -> UpstreamStream:
        """Open the stream and wait for its first bytes; a silent upstream times out here, before any byte
        reaches the client, so the Router can still fail over."""
        request = self._http.build_request(
            "POST",
            f"{deployment.api_base}{path}",
            content=body,
            headers=self._headers(deployment),
            timeout=self._timeout,
        )
        response: httpx.Response | None = None
        try:
            async with asyncio.timeout(self._first_token_timeout):
                response = await self._http.send(request, stream=True)
                if response.status_code >= 400:
                    content = await response.aread()
                    raise map_status_error(deployment, response.status_code, content)
                chunks = response.aiter_raw()
                first = b""
                while not first:
                    first = await anext(chunks)
        except StopAsyncIteration as exc:
            await _close(response)
            raise litellm.ServiceUnavailableError(
                message=f"{deployment.api_base} closed the stream without data",
                model=deployment.upstream_model,
                llm_provider=deployment.provider,
            ) from exc
        except (httpx.HTTPError, TimeoutError) as exc:
            await _close(response)
            if isinstance(exc, TimeoutError):
                raise litellm.Timeout(
                    message=f"{deployment.api_base} sent no first token within "
                    f"{self._first_token_timeout:g}s",
                    model=deployment.upstream_model,
                    llm_provider=deployment.provider,
                ) from exc
            raise map_transport_error(deployment, exc) from exc
        except BaseException:
            await _close(response)
            raise
        return UpstreamStream(first, chunks, response, deployment.id)


async def _close(response: httpx.Response | None) -> None:
    if response is not None:
        await response.aclose()
