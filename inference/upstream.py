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

import aiohttp
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
    response: aiohttp.ClientResponse
    deployment_id: str
    _hidden_params: dict[str, Any] | None = None

    async def aclose(self) -> None:
        self.response.close()


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
    if status == 500 and "validation error" in lowered and "'body'" in message:
        # llama_cpp.server answers 500 to a request body it cannot validate: the request is at fault, and
        # cooling the deployment down for it would let one bad client take the model away from everyone
        return litellm.BadRequestError(message=f"the model server refused the request: {message}", **kwargs)
    return litellm.InternalServerError(message=f"upstream answered {status}: {message}", **kwargs)


class UpstreamUnreachable(litellm.ServiceUnavailableError):
    """The connection was refused or dropped: the server is down (not merely slow or failing)."""


def map_transport_error(deployment: Deployment, exc: BaseException) -> Exception:
    kwargs: dict[str, Any] = {"model": deployment.upstream_model, "llm_provider": deployment.provider}
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return litellm.Timeout(message=f"{deployment.api_base} did not answer in time", **kwargs)
    # A refused or dropped connection means the deployment is down: a 503 lets the Router cool it down
    # (LiteLLM never cools down on its own APIConnectionError).
    return UpstreamUnreachable(
        message=f"{deployment.api_base} is unreachable: {type(exc).__name__}: {exc}", **kwargs
    )


class UpstreamClient:
    """Sends prepared request bodies to a deployment over a shared keep-alive connection pool.

    aiohttp rather than httpx: on this path httpx costs about three times the CPU per request."""

    def __init__(
        self,
        *,
        request_timeout_s: float,
        first_token_timeout_s: float,
        connect_timeout_s: float = 5.0,
        max_connections: int = 256,
        prompt_tokens_per_s: float = 0.0,
    ) -> None:
        self._request_timeout = request_timeout_s
        self._connect_timeout = connect_timeout_s
        self._first_token_timeout = first_token_timeout_s
        self._prompt_rate = prompt_tokens_per_s
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """Created on first use, inside the running event loop."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0),
                timeout=aiohttp.ClientTimeout(
                    total=self._request_timeout, connect=self._connect_timeout, sock_read=None
                ),
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    @staticmethod
    def _headers(deployment: Deployment) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if deployment.api_key and deployment.api_key.lower() not in ("none", ""):
            headers["authorization"] = f"Bearer {deployment.api_key}"
        return headers

    async def post(self, deployment: Deployment, path: str, body: bytes) -> UpstreamReply:
        url = f"{deployment.api_base}{path}"
        try:
            async with self.session.post(url, data=body, headers=self._headers(deployment)) as response:
                content = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise map_transport_error(deployment, exc) from exc
        if status >= 400:
            raise map_status_error(deployment, status, content)
        return UpstreamReply(status, content, deployment.id)

    def first_token_timeout(self, prompt_tokens: int = 0) -> float:
        """The first-token timeout for a prompt of ``prompt_tokens``: an engine reads the prompt first."""
        if self._prompt_rate <= 0:
            return self._first_token_timeout
        return self._first_token_timeout + prompt_tokens / self._prompt_rate

    async def open_stream(
        self, deployment: Deployment, path: str, body: bytes, prompt_tokens: int = 0
    ) -> UpstreamStream:
        """Open the stream and wait for its first bytes; a silent upstream times out here, before any byte
        reaches the client, so the Router can still fail over."""
        url = f"{deployment.api_base}{path}"
        response: aiohttp.ClientResponse | None = None
        limit = self.first_token_timeout(prompt_tokens)
        try:
            async with asyncio.timeout(limit):
                response = await self.session.post(
                    url,
                    data=body,
                    headers=self._headers(deployment),
                    timeout=aiohttp.ClientTimeout(
                        total=None, connect=self._connect_timeout, sock_read=self._request_timeout
                    ),
                )
                if response.status >= 400:
                    content = await response.read()
                    raise map_status_error(deployment, response.status, content)
                first = await response.content.readany()
        except TimeoutError as exc:
            _close(response)
            raise litellm.Timeout(
                message=f"{deployment.api_base} sent no first token within {limit:.0f}s",
                model=deployment.upstream_model,
                llm_provider=deployment.provider,
            ) from exc
        except aiohttp.ClientError as exc:
            _close(response)
            raise map_transport_error(deployment, exc) from exc
        except BaseException:
            _close(response)
            raise
        if not first:
            _close(response)
            raise litellm.ServiceUnavailableError(
                message=f"{deployment.api_base} closed the stream without data",
                model=deployment.upstream_model,
                llm_provider=deployment.provider,
            )
        return UpstreamStream(first, response.content.iter_any(), response, deployment.id)


def _close(response: aiohttp.ClientResponse | None) -> None:
    if response is not None:
        response.close()
