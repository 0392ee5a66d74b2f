"""Prometheus metrics for ``GET /metrics``, in a registry of the app's own (several apps in one process,
as in tests, do not collide).

- requests by method, route template (``/v1/collections/{name}/query``, never the raw path) and status;
  latency histograms; requests in flight: :class:`MetricsMiddleware`, plain ASGI like the request log.
- tokens in and out by model and key, time to first token of streams: what routes report through
  :func:`api.metering.report_usage`, counted once the answer is complete.
- cache lookups by kind and result: every answer with an ``x-hearth-cache`` header (kind = its route), and
  whatever else calls :meth:`Metrics.record_cache`.
- engine, Redis and database up, engine restarts, queue depth, failed jobs, workers and job durations: read
  at scrape time (:meth:`Metrics.refresh`), with short timeouts; job durations come from the histogram the
  workers keep in Redis (:mod:`workers.job_metrics`).

The middleware also hands each authenticated request's usage to the per-key daily counters and the
tokens-per-minute windows (in a background task: the answer has already gone out).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metering import RequestUsage, current_usage
from storage.db import ping as ping_database
from workers.job_metrics import BUCKETS as JOB_BUCKETS
from workers.job_metrics import JobDurations, read_job_durations

if TYPE_CHECKING:
    from api.container import Container

log = logging.getLogger("hearth.metrics")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
FIRST_TOKEN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 60.0)
UNMATCHED = "<unmatched>"  # 404s keep their own label, not one per probed URL
CHECK_TIMEOUT_S = 2.0
CACHE_HEADER = b"x-hearth-cache"


@dataclass
class Snapshot:
    """Dependency state read at scrape time (None: not known, not exported)."""

    engine_up: bool | None = None
    engine_restarts: int | None = None
    redis_up: bool | None = None
    database_up: bool | None = None
    workers: int | None = None
    queued: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    jobs: dict[tuple[str, str], JobDurations] = field(default_factory=dict)


class StateCollector(Collector):
    def __init__(self) -> None:
        self.snapshot = Snapshot()

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        for name, doc, value in (
            ("hearth_engine_up", "The embedded engine answers (1) or not (0)", snap.engine_up),
            ("hearth_redis_up", "Redis answers (1) or not (0)", snap.redis_up),
            ("hearth_database_up", "The database answers (1) or not (0)", snap.database_up),
            ("hearth_workers", "RQ workers listening", snap.workers),
        ):
            if value is not None:
                yield GaugeMetricFamily(name, doc, value=float(value))
        if snap.engine_restarts is not None:
            yield CounterMetricFamily(
                "hearth_engine_restarts", "Restarts of the embedded engine", value=snap.engine_restarts
            )
        for name, doc, values in (
            ("hearth_queue_depth", "Jobs waiting, per queue", snap.queued),
            ("hearth_queue_failed_jobs", "Jobs in the failed registry, per queue", snap.failed),
        ):
            if values:
                family = GaugeMetricFamily(name, doc, labels=["queue"])
                for queue, count in sorted(values.items()):
                    family.add_metric([queue], float(count))
                yield family
        if snap.jobs:
            family_h = HistogramMetricFamily(
                "hearth_job_duration_seconds", "Background job durations", labels=["queue", "status"]
            )
            for (queue, status), durations in sorted(snap.jobs.items()):
                buckets = [(_le(b), float(durations.buckets.get(b, 0))) for b in JOB_BUCKETS]
                buckets.append(("+Inf", float(durations.count)))
                family_h.add_metric([queue, status], buckets, durations.sum)
            yield family_h


def _le(bound: float) -> str:
    return str(float(bound)) if not math.isinf(bound) else "+Inf"


class Metrics:
    """The app's metrics; ``record_cache(kind, hit)`` is for any cache lookup outside the header's view."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.requests = Counter(
            "hearth_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "hearth_http_request_duration_seconds",
            "Time from request to the end of the answer (streams included)",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("hearth_http_requests_in_flight", "Requests being answered", registry=r)
        self.prompt_tokens = Counter(
            "hearth_prompt_tokens", "Prompt tokens (in) by model and API key", ["model", "key"], registry=r
        )
        self.completion_tokens = Counter(
            "hearth_completion_tokens",
            "Completion tokens (out) by model and API key",
            ["model", "key"],
            registry=r,
        )
        self.first_token = Histogram(
            "hearth_time_to_first_token_seconds",
            "Time to the first token of streamed chat completions",
            ["model"],
            buckets=FIRST_TOKEN_BUCKETS,
            registry=r,
        )
        self.cache = Counter(
            "hearth_cache_lookups",
            "Response cache lookups by kind and result",
            ["kind", "result"],
            registry=r,
        )
        self.rate_limited = Counter(
            "hearth_rate_limited_requests", "Requests refused by a rate limit", ["kind"], registry=r
        )
        self.state = StateCollector()
        r.register(self.state)
        # labels() takes a lock and builds a key each time: the hot path keeps its own children
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def record_cache(self, kind: str, hit: bool) -> None:
        """Count one cache lookup (``kind``: chat, rag, embeddings, ...)."""
        self.cache.labels(kind, "hit" if hit else "miss").inc()

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = (self.requests.labels(method, route, str(status)), self.latency.labels(method, route))
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_usage(self, key: str, usage: RequestUsage) -> None:
        for model, prompt, completion in usage.tokens:
            if prompt:
                self.prompt_tokens.labels(model, key).inc(prompt)
            if completion:
                self.completion_tokens.labels(model, key).inc(completion)
        for model, seconds in usage.first_token:
            self.first_token.labels(model).observe(seconds)

    async def refresh(self, container: Container) -> None:
        """Read the dependencies' state for the next :meth:`render` (each check bounded by a timeout)."""
        snap = Snapshot()

        async def engine() -> None:
            if container.engine is not None:
                health = await container.engine.health()
                snap.engine_up = health["status"] == "ok"
                snap.engine_restarts = container.engine.restarts

        async def database() -> None:
            try:
                await asyncio.wait_for(
                    asyncio.to_thread(ping_database, container.db_engine), timeout=CHECK_TIMEOUT_S
                )
                snap.database_up = True
            except Exception:
                snap.database_up = False

        async def redis_and_jobs() -> None:
            snap.redis_up = await container.redis.ping()
            if not snap.redis_up:
                return
            try:
                status, jobs = await asyncio.wait_for(
                    asyncio.to_thread(_jobs_state, container), timeout=CHECK_TIMEOUT_S
                )
            except Exception as exc:
                log.debug("queue state unavailable for /metrics: %s", exc)
                return
            snap.workers, snap.queued, snap.failed, snap.jobs = (
                status["workers"],
                status["queued"],
                status["failed"],
                jobs,
            )

        await asyncio.gather(engine(), database(), redis_and_jobs())
        self.state.snapshot = snap

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _jobs_state(container: Container) -> tuple[dict[str, Any], dict[tuple[str, str], JobDurations]]:
    return container.queue.status(), read_job_durations(container.queue.connection)


class MetricsMiddleware:
    """Counts every HTTP request (by its matched route) and accounts for what it consumed."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = self.metrics
        usage = RequestUsage()
        token = current_usage.set(usage)
        status = 500
        cache: str | None = None

        async def observed_send(message: Message) -> None:
            nonlocal status, cache
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name == CACHE_HEADER:
                        cache = value.decode("latin-1")
                        break
            await send(message)

        metrics.in_flight.inc()
        started = time.perf_counter()
        try:
            await self.app(scope, receive, observed_send)
        finally:
            elapsed = time.perf_counter() - started
            metrics.in_flight.dec()
            current_usage.reset(token)
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            metrics.observe_request(scope["method"], route, status, elapsed)
            if cache is not None:
                metrics.record_cache(route, cache == "hit")
            if status == 429:
                metrics.rate_limited.labels(scope.get("state", {}).get("rate_limited", "requests")).inc()
            self._account(scope, usage)

    def _account(self, scope: Scope, usage: RequestUsage) -> None:
        principal = scope.get("state", {}).get("principal")
        if usage.tokens or usage.first_token:
            self.metrics.observe_usage(principal.name if principal is not None else "-", usage)
        if principal is None:
            return
        container = getattr(scope["app"].state, "container", None)
        if container is None or (container.usage is None and container.limiter is None):
            return
        task = asyncio.get_running_loop().create_task(_store_usage(container, principal, usage))
        self._tasks.add(task)  # a reference until it is done (the loop keeps only weak ones)
        task.add_done_callback(self._tasks.discard)


async def _store_usage(container: Container, principal: Any, usage: RequestUsage) -> None:
    try:
        prompt, completion = usage.prompt_tokens, usage.completion_tokens
        if container.usage is not None:
            await container.usage.add(
                principal.key_id,
                principal.name,
                principal.tenant,
                prompt_tokens=prompt,
                completion_tokens=completion,
            )
        if container.limiter is not None and (prompt or completion):
            await container.limiter.add_tokens(principal.key_id, principal.name, prompt + completion)
    except Exception:  # never let accounting raise into the loop's exception handler
        log.exception("could not store a request's usage")
