"""The chat gateway: LiteLLM's Router decides, Hearth forwards bytes.

For each request LiteLLM's Router picks the deployment (routing strategy, cooldowns), decides whether a
failure is retried and which group to fall back to (``num_retries``, ``fallbacks``,
``context_window_fallbacks``), and cools failing deployments down. Every attempt (``_attempt``) sends the
request body to the chosen OpenAI-compatible deployment as bytes; upstream failures arrive as LiteLLM's own
exception types so its rules apply to them unchanged. LiteLLM's ``_ageneric_api_call_with_fallbacks`` would
run the same loop, but its per-call bookkeeping (usage accounting with deep copies, context compaction)
costs about a millisecond of CPU per request, which on two cores the engine pays for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import litellm
import orjson
from litellm import Router
from litellm.router_utils.fallback_event_handlers import get_fallback_model_group

from inference import sse
from inference.catalog import Deployment, ModelCatalog
from inference.errors import (
    BackendTimeout,
    BackendUnavailable,
    ContextLengthExceeded,
    InferenceError,
    InvalidRequest,
    ModelNotFound,
    UpstreamError,
)
from inference.tokens import TokenCounter, check_budget
from inference.upstream import UpstreamClient, UpstreamReply, UpstreamStream, UpstreamUnreachable

log = logging.getLogger("hearth.gateway")

ROUTER_KEYS = frozenset(
    {
        "routing_strategy",
        "fallbacks",
        "context_window_fallbacks",
        "content_policy_fallbacks",
        "num_retries",
        "timeout",
        "stream_timeout",
        "allowed_fails",
        "cooldown_time",
        "retry_after",
        "retry_policy",
        "allowed_fails_policy",
        "routing_strategy_args",
        "enable_pre_call_checks",
    }
)
ENGINE_EXIT_GRACE_S = 0.3
# waits up to the timeout for the embedded engine that serves an upstream model name to be ready
EngineWaiter = Callable[[str, float], Awaitable[bool]]
# told the usage of every answered call (model group, OpenAI usage, time to first token of a stream)
UsageObserver = Callable[[str, dict[str, int], float | None], None]


@dataclass
class ChatRequest:
    """A validated chat completion request (OpenAI shape) and what the gateway derived from it."""

    payload: dict[str, Any]
    group: str
    prompt_tokens: int
    stream: bool
    include_usage: bool


@dataclass
class ChatResult:
    content: bytes  # the upstream's JSON body, untouched
    usage: dict[str, int]
    model: str
    deployment_id: str

    @property
    def text(self) -> str:
        """The first choice's message content ("" when the body has none)."""
        try:
            data = orjson.loads(self.content)
            return str(((data.get("choices") or [{}])[0].get("message") or {}).get("content") or "")
        except (orjson.JSONDecodeError, AttributeError, IndexError):
            return ""


@dataclass
class StreamStats:
    """Filled while a stream is relayed; read when it ends (usage, time to first token)."""

    usage: dict[str, int] = field(default_factory=dict)
    deployment_id: str = ""
    first_token_s: float | None = None
    error: InferenceError | None = None


def build_router(
    catalog: ModelCatalog, *, num_retries: int, timeout: float, cooldown_s: float, allowed_fails: int
) -> Router:
    extra = {k: v for k, v in catalog.router_settings.items() if k in ROUTER_KEYS}
    unknown = set(catalog.router_settings) - ROUTER_KEYS
    if unknown:
        log.warning("ignoring unsupported router_settings keys: %s", sorted(unknown))
    options: dict[str, Any] = {
        "num_retries": num_retries,
        "timeout": timeout,
        "cooldown_time": cooldown_s,
        "allowed_fails": allowed_fails,
        "retry_after": 0,
        **extra,
    }
    return Router(model_list=catalog.litellm_model_list(), **options)


def to_inference_error(exc: BaseException, model: str) -> InferenceError:
    """LiteLLM's exception tree → Hearth's (the one place where this happens)."""
    if isinstance(exc, InferenceError):
        return exc
    message = getattr(exc, "message", None) or str(exc)
    if isinstance(exc, litellm.ContextWindowExceededError):
        return ContextLengthExceeded(message, param="messages")
    if isinstance(exc, litellm.BadRequestError | litellm.UnprocessableEntityError):
        return InvalidRequest(message)
    if isinstance(exc, litellm.NotFoundError):
        return UpstreamError(
            f"the upstream for '{model}' does not know the model: {message}", status_code=502
        )
    if isinstance(exc, litellm.Timeout):
        return BackendTimeout(f"no deployment of '{model}' answered in time: {message}")
    if isinstance(exc, litellm.RateLimitError):
        return BackendUnavailable(f"every deployment of '{model}' is rate limited: {message}")
    if isinstance(exc, litellm.ServiceUnavailableError | litellm.APIConnectionError):
        return BackendUnavailable(f"no deployment of '{model}' is available: {message}")
    if isinstance(exc, litellm.AuthenticationError):
        return UpstreamError(f"the upstream for '{model}' refused Hearth's credentials", status_code=502)
    if "No deployments available" in message or "cooldown" in message.lower():
        return BackendUnavailable(f"no deployment of '{model}' is available right now (all cooling down)")
    return UpstreamError(f"'{model}' failed: {message}")


class ChatGateway:
    """Chat completions over the catalog's deployments."""

    def __init__(
        self,
        catalog: ModelCatalog,
        router: Router,
        upstream: UpstreamClient,
        counters: Mapping[str, TokenCounter],
        *,
        engine_waiter: EngineWaiter | None = None,
        engine_wait_s: float = 30.0,
        on_usage: UsageObserver | None = None,
        default_max_tokens: int | None = None,
        max_tokens_limit: int | None = None,
    ) -> None:
        self.catalog = catalog
        self._default_max_tokens = default_max_tokens
        self._max_tokens_limit = max_tokens_limit
        self._on_usage = on_usage
        self._router = router
        self._upstream = upstream
        self._counters = counters  # by model group
        self._engine_waiter = engine_waiter
        self._engine_wait_s = engine_wait_s

    # -- preparing -------------------------------------------------------------------------------------------

    def prepare(self, payload: dict[str, Any], *, from_client: bool = False) -> ChatRequest:
        """Resolve the model, count the prompt and refuse what cannot fit the model's context.

        The completion length is bounded by ``default_max_tokens`` (when the request sets none) and
        ``max_tokens_limit``: a client's request above the limit is refused (400); Hearth's own requests
        (RAG answers, summaries, reports) are lowered to it."""
        # OpenAI reads null as "the default"; some upstreams (llama_cpp.server) answer 500 to it
        for name in [name for name, value in payload.items() if value is None]:
            del payload[name]
        model = payload["model"]
        group = self.catalog.resolve(model)
        if (payload.get("logprobs") or payload.get("top_logprobs")) and any(
            d.grammar_style == "llama_cpp" for d in self.catalog.deployments_of(group)
        ):
            # the embedded engine runs without logits_all (it would cost GBs of RAM): say so, don't 500
            raise InvalidRequest(f"'{model}' does not support logprobs", param="logprobs")
        counter = self._counters[group]
        prompt_tokens = counter.count_messages(payload["messages"])
        max_tokens = payload.get("max_completion_tokens") or payload.get("max_tokens")
        limit = self._max_tokens_limit
        if max_tokens is None and self._default_max_tokens is not None:
            max_tokens = payload["max_tokens"] = self._default_max_tokens
        elif max_tokens is not None and limit is not None and max_tokens > limit:
            param = "max_completion_tokens" if payload.get("max_completion_tokens") else "max_tokens"
            if from_client:
                message = f"{param} is {max_tokens}, more than this server allows ({limit})"
                raise InvalidRequest(message, param=param)
            max_tokens = payload[param] = limit
        check_budget(prompt_tokens, max_tokens, self.catalog.context_window(group))
        stream = bool(payload.get("stream"))
        options = payload.get("stream_options") or {}
        return ChatRequest(
            payload=payload,
            group=group,
            prompt_tokens=prompt_tokens,
            stream=stream,
            include_usage=bool(stream and options.get("include_usage")),
        )

    def count_tokens(self, group: str, text: str) -> int:
        return self._counters[group].count_text(text)

    @staticmethod
    def body_for(deployment: Deployment, request: ChatRequest) -> bytes:
        body = dict(request.payload)
        body["model"] = deployment.upstream_model
        if deployment.grammar_style == "llama_cpp":
            _to_llama_cpp(body)
        if request.stream:
            if deployment.stream_usage:
                body["stream_options"] = {"include_usage": True}
            else:
                body.pop("stream_options", None)
        return orjson.dumps(body)

    # -- calling ---------------------------------------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> ChatResult:
        reply = await self._route(request)
        assert isinstance(reply, UpstreamReply)
        try:
            data = orjson.loads(reply.content)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError("the upstream answered with a body that is not JSON") from exc
        usage = data.get("usage") or {}
        if not usage:
            completion = "".join(
                (choice.get("message") or {}).get("content") or "" for choice in data.get("choices", [])
            )
            completion_tokens = self.count_tokens(request.group, completion)
            usage = _usage(request.prompt_tokens, completion_tokens)
        self._observe(request.group, usage, None)
        return ChatResult(reply.content, usage, str(data.get("model", request.group)), reply.deployment_id)

    async def open_stream(self, request: ChatRequest) -> tuple[AsyncIterator[bytes], StreamStats]:
        """Start a stream. Errors before the first token raise here (and were retried and failed over by
        the Router); errors after it become an SSE error event in the returned iterator."""
        started = time.perf_counter()
        upstream = await self._route(request)
        assert isinstance(upstream, UpstreamStream)
        stats = StreamStats(deployment_id=upstream.deployment_id, first_token_s=time.perf_counter() - started)
        return self._relay(request, upstream, stats), stats

    async def _route(self, request: ChatRequest) -> UpstreamReply | UpstreamStream:
        """Try the request's model group, then LiteLLM's fallback groups, until one deployment answers.

        LiteLLM makes every decision: which deployment (``async_get_available_deployment``, which skips
        deployments in cooldown), whether an error is worth retrying (``should_retry_this_error``), when a
        deployment is cooled down (``deployment_callback_on_failure``) and which group to fall back to
        (``get_fallback_model_group`` over ``fallbacks`` / ``context_window_fallbacks``). Hearth only runs the
        loop, without LiteLLM's per-call bookkeeping (usage tracking, response objects) on the hot path.
        """
        router = self._router
        last: Exception | None = None
        tried: set[str] = set()
        group: str | None = request.group
        while group is not None and group not in tried:
            tried.add(group)
            for _ in range(max(0, int(router.num_retries or 0)) + 1):
                try:
                    chosen = await router.async_get_available_deployment(model=group, request_kwargs={})
                except Exception as exc:  # nothing available in this group (all cooling down)
                    last = exc
                    break
                deployment = self.catalog.by_id(chosen["model_info"]["id"])
                try:
                    return await self._attempt(deployment, request)
                except Exception as exc:
                    last = exc
                    self._record_failure(deployment, group, exc)
                    if not await self._should_retry(group, exc):
                        break
            if last is None:
                break
            group = self._fallback_for(group, last)
        assert last is not None
        raise to_inference_error(last, request.payload["model"]) from last

    async def _should_retry(self, group: str, exc: Exception) -> bool:
        router = self._router
        healthy, every = await router._async_get_healthy_deployments(model=group, parent_otel_span=None)
        try:
            return bool(
                router.should_retry_this_error(
                    error=exc,
                    healthy_deployments=healthy,
                    all_deployments=every,
                    context_window_fallbacks=router.context_window_fallbacks,
                    regular_fallbacks=router.fallbacks,
                )
            )
        except Exception:
            return False

    def _fallback_for(self, group: str, exc: Exception) -> str | None:
        """The next model group LiteLLM's fallback rules name for this failure, if any."""
        if isinstance(exc, litellm.ContextWindowExceededError):
            rules = self._router.context_window_fallbacks
        elif isinstance(exc, litellm.BadRequestError | litellm.AuthenticationError | litellm.NotFoundError):
            return None  # the request itself is wrong: another model would not fix it
        else:
            rules = self._router.fallbacks
        if not rules:
            return None
        chain, _ = get_fallback_model_group(fallbacks=list(rules), model_group=group)
        for candidate in chain or ():
            if candidate != group and candidate in self.catalog.groups:
                return str(candidate)
        return None

    async def _attempt(self, deployment: Deployment, request: ChatRequest) -> UpstreamReply | UpstreamStream:
        """One attempt on the deployment the Router chose."""
        body = self.body_for(deployment, request)
        if not deployment.embedded or self._engine_waiter is None:
            return await self._send(deployment, request, body)
        # The embedded engine has a supervisor that knows better than a cooldown timer: while it (re)starts,
        # wait for it; if the connection is refused because it just died, wait for the restart and try again.
        # Unless the group has other deployments (e.g. vLLM): then fail over to them at once.
        alone = len(self.catalog.deployments_of(deployment.model_name)) == 1
        for attempt in range(2 if alone else 1):
            try:
                await self._engine_waiter(deployment.upstream_model, self._engine_wait_s if alone else 0.0)
            except InferenceError as exc:  # a deployment failure like any other: cooldown, retry, fallback
                raise litellm.ServiceUnavailableError(
                    message=exc.message, model=deployment.upstream_model, llm_provider=deployment.provider
                ) from exc
            try:
                return await self._send(deployment, request, body)
            except UpstreamUnreachable:
                if attempt or not alone:
                    raise
                log.warning("the embedded engine refused the connection; waiting for its supervisor")
                await asyncio.sleep(ENGINE_EXIT_GRACE_S)  # let the supervisor see the exit
        raise AssertionError("unreachable")

    async def _send(
        self, deployment: Deployment, request: ChatRequest, body: bytes
    ) -> UpstreamReply | UpstreamStream:
        if request.stream:
            return await self._upstream.open_stream(
                deployment, "/chat/completions", body, request.prompt_tokens
            )
        return await self._upstream.post(deployment, "/chat/completions", body)

    def _record_failure(self, deployment: Deployment, group: str, exc: Exception) -> None:
        log.warning("deployment %s failed: %s", deployment.id, getattr(exc, "message", None) or exc)
        now = time.time()
        try:
            self._router.deployment_callback_on_failure(
                {
                    "exception": exc,
                    "litellm_params": {
                        "model_info": {"id": deployment.id},
                        "metadata": {"model_group": group},
                    },
                },
                None,
                now,
                now,
            )
        except Exception:  # cooldown bookkeeping must never hide the real error
            log.exception("could not record the failure for cooldowns")

    async def _relay(
        self, request: ChatRequest, upstream: UpstreamStream, stats: StreamStats
    ) -> AsyncIterator[bytes]:
        """Relay SSE events as they come; add the usage chunk the upstream cannot send."""
        buffer = b""
        content_parts: list[str] = []
        last_chunk: dict[str, Any] = {}
        done = False
        try:
            async for piece in _chain(upstream):
                events, buffer = sse.split_events(buffer + piece)
                for event in events:
                    out = self._on_event(event, request, stats, content_parts, last_chunk)
                    if out is sse.DONE:
                        done = True
                        break
                    if out is not None:
                        yield out
                if done:
                    break
            if not done and buffer.strip():
                out = self._on_event(buffer, request, stats, content_parts, last_chunk)
                done = out is sse.DONE
                if out is not None and out is not sse.DONE:
                    yield out
        except Exception as exc:  # the upstream died mid-stream
            log.warning("stream from %s broke: %s", upstream.deployment_id, exc)
        finally:
            await upstream.aclose()
        if not stats.usage:
            completion_tokens = self.count_tokens(request.group, "".join(content_parts))
            stats.usage = _usage(request.prompt_tokens, completion_tokens)
            if done and request.include_usage:
                yield sse.frame(_usage_chunk(last_chunk, stats.usage))
        self._observe(request.group, stats.usage, stats.first_token_s)
        if not done:
            stats.error = BackendUnavailable("the model server stopped in the middle of the answer")
            yield sse.error_frame(stats.error)
        yield sse.DONE

    def _observe(self, group: str, usage: dict[str, int], first_token_s: float | None) -> None:
        if self._on_usage is not None:
            try:
                self._on_usage(group, usage, first_token_s)
            except Exception:  # accounting must never break an answer
                log.exception("the usage observer failed")

    def _on_event(
        self,
        event: bytes,
        request: ChatRequest,
        stats: StreamStats,
        content_parts: list[str],
        last_chunk: dict[str, Any],
    ) -> bytes | None:
        """The event to relay (None: none; ``sse.DONE``, this very object: the stream's end)."""
        data = sse.event_data(event)
        if not data:
            return None  # comments and keep-alives
        if data == sse.DONE_DATA:
            return sse.DONE
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return sse.frame(data)
        if isinstance(chunk, dict):
            usage = chunk.get("usage")
            if usage:
                stats.usage = usage
                if not chunk.get("choices"):
                    # the usage-only chunk Hearth asked for; the client gets it only if it asked too
                    return sse.frame(data) if request.include_usage else None
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                text = delta.get("content")
                if text:
                    content_parts.append(text)
            if not last_chunk:
                last_chunk.update({k: chunk.get(k) for k in ("id", "created", "model", "system_fingerprint")})
        return sse.frame(data)


async def _chain(upstream: UpstreamStream) -> AsyncIterator[bytes]:
    # the first piece is cut into events like the others: a short answer can arrive whole in it
    yield upstream.first
    async for piece in upstream.rest:
        yield piece


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _usage_chunk(template: Mapping[str, Any], usage: dict[str, int]) -> dict[str, Any]:
    return {
        "id": template.get("id") or "chatcmpl-hearth",
        "object": "chat.completion.chunk",
        "created": template.get("created") or int(time.time()),
        "model": template.get("model") or "",
        "choices": [],
        "usage": usage,
    }


def _to_llama_cpp(body: dict[str, Any]) -> None:
    """llama_cpp.server takes ``{"type": "json_object", "schema": ...}``, ``max_tokens`` only, and message
    content as a string (a list of parts answers 500 there)."""
    messages = body.get("messages") or []
    if any(isinstance(m.get("content"), list) for m in messages):
        body["messages"] = [
            {**m, "content": "".join(p.get("text") or "" for p in m["content"] if p.get("type") == "text")}
            if isinstance(m.get("content"), list)
            else m
            for m in messages
        ]
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        body["response_format"] = {"type": "json_object", **({"schema": schema} if schema else {})}
    if "max_completion_tokens" in body:
        body["max_tokens"] = body.pop("max_completion_tokens")


__all__ = [
    "ChatGateway",
    "ChatRequest",
    "ChatResult",
    "ModelNotFound",
    "StreamStats",
    "build_router",
    "to_inference_error",
]
