"""The composition root: every long-lived component is built here, once, from the settings.

``build_container(settings)`` is called by the API lifespan, ``build_container(settings, role="worker")`` by
``hearth worker``. A worker shares the database, Redis and the model gateway but never starts the embedded
engines (the API process owns them and the worker reaches each at its ``url``) and never opens the
embedded vector store (one process may own it). Nothing connects, loads a model or reads the environment
at import time anywhere in Hearth.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from api.metering import report_gateway_usage
from api.security import Authenticator
from configs.settings import Settings
from indexing.answers import AnswerService
from indexing.assistants import AssistantSpec, PromptLibrary, load_assistants
from indexing.collections import CollectionService
from indexing.embedding_service import EmbeddingService
from indexing.sparse import SparseEncoder
from indexing.summaries import SummaryService
from indexing.vector_store import VectorStore, make_vector_store
from inference.cache import ResponseCache, connect
from inference.catalog import ModelCatalog, load_catalog
from inference.engine import EngineGroup, EngineSupervisor
from inference.errors import BackendUnavailable
from inference.gateway import ChatGateway, EngineWaiter, build_router
from inference.model_store import resolve_model_path
from inference.tokens import make_group_counters
from inference.upstream import UpstreamClient
from storage.collections import CollectionRepository
from storage.db import make_engine, make_session_factory, migrate
from storage.error_log import ErrorLog
from storage.jobs import JobRepository
from storage.keys import ApiKeyStore
from storage.rate_limits import RateLimiter
from storage.redis_guard import RedisGuard
from storage.redis_service import RedisService
from storage.reports import ReportRepository
from storage.summaries import SummaryRepository
from storage.usage import UsageCounters
from workers.companions import CompanionProcesses
from workers.jobs import JobService
from workers.queues import JobQueue
from workers.reports.market import make_market_data
from workers.reports.service import ReportService
from workers.runtime import job_uploads_dir

log = logging.getLogger("hearth.container")


@dataclass
class Container:
    settings: Settings
    db_engine: Any
    keys: ApiKeyStore
    redis: RedisService
    engine: EngineGroup | None  # the embedded engines (None in a worker, or when the profile has none)
    catalog: ModelCatalog
    gateway: ChatGateway
    embeddings: EmbeddingService
    upstream: UpstreamClient
    auth: Authenticator
    # the RAG components: None in a worker
    collections: CollectionService | None
    answers: AnswerService | None
    assistants: dict[str, AssistantSpec]
    store: VectorStore | None
    error_log: ErrorLog
    session_factory: Any
    queue: JobQueue
    jobs: JobService
    reports: ReportService
    summaries: SummaryService
    cache: ResponseCache
    role: Role = "api"
    companions: CompanionProcesses | None = None
    # per-key usage counters and rate limits (best effort over Redis; None in a worker)
    usage: UsageCounters | None = None
    limiter: RateLimiter | None = None
    started_at: float = field(default_factory=time.time)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    async def aclose(self) -> None:
        if self.companions is not None:
            await self.companions.stop()
        self.redis.stop_supervising()  # ends its task without a cancel (see RedisService.supervise)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        if self.collections is not None:
            await self.collections.aclose()
        if self.store is not None:
            self.store.close()
        if self.engine is not None:
            await self.engine.stop()
        self.embeddings.close()
        self.queue.connection.close()
        await self.upstream.aclose()
        await self.cache.aclose()
        if self.limiter is not None:
            await self.limiter.aclose()  # and the Redis client it shares with the usage counters
        await self.redis.stop()
        self.db_engine.dispose()


def engine_waiter(engines: EngineGroup) -> EngineWaiter:
    """Requests for an embedded engine wait for it (while it starts or restarts) instead of failing."""

    async def wait(served_name: str, timeout: float) -> bool:
        engine = engines.get(served_name)
        if engine is None:
            raise BackendUnavailable(f"no embedded engine serves {served_name!r}")
        if engine.ready:
            return True
        try:
            await engine.wait_ready(timeout)
        except Exception as exc:
            raise BackendUnavailable(f"the embedded engine for {served_name!r} is not ready: {exc}") from exc
        return True

    return wait


async def resolve_engine_models(settings: Settings) -> dict[str, Path]:
    """Each engine's GGUF by served name, joined and verified first where it is a bundled model."""
    if not settings.engine.enabled:
        return {}
    return {
        one.served_name: await asyncio.to_thread(resolve_model_path, one.model or "", settings.models_dir)
        for one in settings.engine.engines()
    }


def ensure_dev_key(settings: Settings, keys: ApiKeyStore) -> None:
    """A fresh embedded install has no key: make one admin key, once, and say where it is."""
    if settings.api_keys or settings.auth.admin_keys or not settings.auth.generate_dev_key:
        return
    if keys.count() > 0:
        return
    plaintext, _ = keys.create("dev", role="admin")
    path = settings.data_dir / "dev-api-key"
    path.write_text(plaintext + "\n", encoding="utf-8")
    os.chmod(path, 0o600)
    log.warning(
        "no API key was configured: created an admin key named 'dev', saved in %s "
        "(use it as 'Authorization: Bearer <key>'; set HEARTH_API_KEYS or run 'hearth keys create' instead)",
        path.resolve(),
    )


Role = Literal["api", "worker"]


async def build_container(settings: Settings, *, role: Role = "api") -> Container:
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    db_engine = make_engine(
        settings.database_url, echo=settings.database.echo, pool_size=settings.database.pool_size
    )
    await asyncio.to_thread(migrate, db_engine)
    session_factory = make_session_factory(db_engine)
    keys = ApiKeyStore(session_factory)
    if role == "api":
        await asyncio.to_thread(ensure_dev_key, settings, keys)

    redis = RedisService(settings.redis, settings.data_dir)
    try:
        await redis.start()
    except Exception as exc:  # Redis is optional for the gateway: report it in /readyz, keep serving
        log.error("Redis is unavailable: %s", exc)

    try:
        engine: EngineGroup | None = None
        engine_models = await resolve_engine_models(settings)
        engine_settings = settings.engine.engines() if settings.engine.enabled else []
        if role == "api" and engine_settings:
            (settings.data_dir / "logs").mkdir(exist_ok=True)
            engine = EngineGroup(
                [
                    EngineSupervisor(
                        one,
                        engine_models[one.served_name],
                        settings.data_dir / "logs" / f"engine-{one.served_name}.log",
                    )
                    for one in engine_settings
                ]
            )

        catalog = load_catalog(
            settings.models_path,
            profiles=settings.profiles,
            engine_urls={one.served_name: one.url for one in engine_settings},
            engine_context=settings.engine.n_ctx,
        )
        counters = make_group_counters(catalog, engine_models)
        for counter in counters.values():
            # load the vocabulary now, off the loop, so the first request does not pay for it
            await asyncio.to_thread(counter.count_messages, [{"role": "user", "content": "warm up"}])

        gw = settings.gateway
        upstream = UpstreamClient(
            request_timeout_s=gw.request_timeout_s,
            first_token_timeout_s=gw.first_token_timeout_s,
            prompt_tokens_per_s=gw.prompt_tokens_per_s,
            connect_timeout_s=gw.connect_timeout_s,
            max_connections=gw.max_connections,
        )
        router = build_router(
            catalog,
            num_retries=gw.num_retries,
            timeout=gw.request_timeout_s,
            cooldown_s=gw.cooldown_s,
            allowed_fails=gw.allowed_fails,
        )
        gateway = ChatGateway(
            catalog,
            router,
            upstream,
            counters,
            engine_waiter=engine_waiter(engine) if engine is not None else None,
            engine_wait_s=min(settings.engine.startup_timeout_s, gw.request_timeout_s),
            on_usage=report_gateway_usage,
            default_max_tokens=gw.default_max_tokens,
            max_tokens_limit=gw.max_tokens_limit,
        )
        # its own Redis client, with short timeouts: a dead Redis must not slow requests down
        cache = ResponseCache(settings.cache, lambda: connect(redis.url, settings.cache.timeout_s))
        embeddings = EmbeddingService(settings.embeddings, environ=os.environ, cache=cache)
        store: VectorStore | None = None
        collections: CollectionService | None = None
        answers: AnswerService | None = None
        if role == "api":
            store = await asyncio.to_thread(make_vector_store, settings.qdrant, settings.data_dir)
            sparse = SparseEncoder()
            repo = CollectionRepository(session_factory)
            collections = CollectionService(
                settings.ingestion, repo, store, embeddings, sparse, settings.data_dir / "uploads"
            )
            answers = AnswerService(
                settings.retrieval,
                collections,
                repo,
                store,
                embeddings,
                sparse,
                gateway,
                PromptLibrary(settings.config_dir / "prompts"),
                chat_model=settings.gateway.default_model,
                cache=cache,
            )
        summaries = SummaryService(
            settings.summaries,
            SummaryRepository(session_factory),
            gateway,
            PromptLibrary(settings.config_dir / "prompts"),
            chat_model=settings.summaries.model or settings.gateway.default_model,
        )
        reports = ReportService(
            make_market_data(settings.market),
            ReportRepository(session_factory),
            gateway,
            PromptLibrary(settings.config_dir / "prompts"),
            chat_model=settings.gateway.default_model,
            default_period=settings.market.default_period,
            default_language=settings.market.report_language,
        )
        queue = JobQueue(redis.make_sync_client(), settings.workers)
        container = Container(
            settings=settings,
            db_engine=db_engine,
            keys=keys,
            redis=redis,
            engine=engine,
            catalog=catalog,
            gateway=gateway,
            embeddings=embeddings,
            upstream=upstream,
            auth=Authenticator(
                env_keys=settings.api_keys,
                admin_keys=settings.auth.admin_keys,
                store=keys,
                cache_ttl_s=settings.auth.key_cache_ttl_s,
            ),
            collections=collections,
            answers=answers,
            assistants=load_assistants(settings.config_dir / "assistants.yaml"),
            store=store,
            error_log=ErrorLog(session_factory),
            queue=queue,
            jobs=JobService(
                JobRepository(session_factory), queue, settings.summaries, job_uploads_dir(settings)
            ),
            session_factory=session_factory,
            reports=reports,
            summaries=summaries,
            cache=cache,
            role=role,
        )
        if role == "api":
            obs = settings.observability
            guard = RedisGuard(
                "usage counters and rate limits",
                lambda: connect(redis.url, settings.limits.timeout_s),
                retry_after_s=settings.limits.retry_after_s,
            )
            container.limiter = RateLimiter(settings.limits, guard)
            if obs.usage_enabled:
                container.usage = UsageCounters(guard, retention_days=obs.usage_retention_days)
    except BaseException:
        await redis.stop()
        db_engine.dispose()
        raise
    if engine is not None:
        await engine.start()
    if role == "api" and (settings.workers.embedded > 0 or settings.scheduler.embedded):
        container.companions = CompanionProcesses(
            settings.data_dir / "logs",
            workers=settings.workers.embedded,
            scheduler=settings.scheduler.embedded,
        )
        await container.companions.start()
    if collections is not None:
        # documents a crash or a restart interrupted are indexed again from their saved uploads
        container._tasks.append(asyncio.create_task(collections.recover()))
    if redis.embedded:  # restart the embedded redis-server should it die
        container._tasks.append(asyncio.create_task(redis.supervise()))
    if settings.embeddings.preload:
        container._tasks.append(asyncio.create_task(container.embeddings.preload()))
    return container
