"""The composition root: every long-lived component is built here, once, from the settings.

``build_container`` is called by the API lifespan (and, later, by worker start-up). Nothing connects, loads
a model or reads the environment at import time anywhere in Hearth.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.security import Authenticator
from configs.settings import Settings
from indexing.answers import AnswerService
from indexing.assistants import AssistantSpec, PromptLibrary, load_assistants
from indexing.collections import CollectionService
from indexing.embedding_service import EmbeddingService
from indexing.sparse import SparseEncoder
from indexing.vector_store import VectorStore, make_vector_store
from inference.catalog import ModelCatalog, load_catalog
from inference.engine import EngineSupervisor
from inference.errors import BackendUnavailable
from inference.gateway import ChatGateway, EngineWaiter, build_router
from inference.model_store import resolve_model_path
from inference.tokens import TokenCounter, make_token_counter
from inference.upstream import UpstreamClient
from storage.collections import CollectionRepository
from storage.db import make_engine, make_session_factory, migrate
from storage.keys import ApiKeyStore
from storage.redis_service import RedisService

log = logging.getLogger("hearth.container")


@dataclass
class Container:
    settings: Settings
    db_engine: Any
    keys: ApiKeyStore
    redis: RedisService
    engine: EngineSupervisor | None
    catalog: ModelCatalog
    gateway: ChatGateway
    embeddings: EmbeddingService
    upstream: UpstreamClient
    auth: Authenticator
    collections: CollectionService
    answers: AnswerService
    assistants: dict[str, AssistantSpec]
    store: VectorStore
    started_at: float = field(default_factory=time.time)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        await self.collections.aclose()
        self.store.close()
        if self.engine is not None:
            await self.engine.stop()
        self.embeddings.close()
        await self.upstream.aclose()
        await self.redis.stop()
        self.db_engine.dispose()


def engine_waiter(engine: EngineSupervisor) -> EngineWaiter:
    """Requests for the embedded engine wait for it (while it starts or restarts) instead of failing."""

    async def wait(timeout: float) -> bool:
        if engine.ready:
            return True
        try:
            await engine.wait_ready(timeout)
        except Exception as exc:
            raise BackendUnavailable(f"the embedded engine is not ready: {exc}") from exc
        return True

    return wait


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


async def build_container(settings: Settings) -> Container:
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    db_engine = make_engine(
        settings.database_url, echo=settings.database.echo, pool_size=settings.database.pool_size
    )
    await asyncio.to_thread(migrate, db_engine)
    session_factory = make_session_factory(db_engine)
    keys = ApiKeyStore(session_factory)
    await asyncio.to_thread(ensure_dev_key, settings, keys)

    redis = RedisService(settings.redis, settings.data_dir)
    try:
        await redis.start()
    except Exception as exc:  # Redis is optional for the gateway: report it in /readyz, keep serving
        log.error("Redis is unavailable: %s", exc)

    try:
        engine: EngineSupervisor | None = None
        engine_model: Path | None = None
        if settings.engine.enabled:
            engine_model = await asyncio.to_thread(
                resolve_model_path, settings.engine.model, settings.models_dir
            )
            engine = EngineSupervisor(
                settings.engine, engine_model, settings.data_dir / "logs" / "engine.log"
            )
            (settings.data_dir / "logs").mkdir(exist_ok=True)

        catalog = load_catalog(
            settings.models_path,
            profiles=settings.profiles,
            engine_url=settings.engine.url if engine is not None else None,
            engine_context=settings.engine.n_ctx,
        )
        counters: dict[str, TokenCounter] = {}
        for group in catalog.groups:
            spec = catalog.deployments_of(group)[0].tokenizer
            counters[group] = make_token_counter(spec, engine_model)
            # load the vocabulary now, off the loop, so the first request does not pay for it
            await asyncio.to_thread(counters[group].count_messages, [{"role": "user", "content": "warm up"}])

        gw = settings.gateway
        upstream = UpstreamClient(
            request_timeout_s=gw.request_timeout_s,
            first_token_timeout_s=gw.first_token_timeout_s,
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
        )
        embeddings = EmbeddingService(settings.embeddings, environ=os.environ)
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
        )
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
        )
    except BaseException:
        await redis.stop()
        db_engine.dispose()
        raise
    if engine is not None:
        await engine.start()
    # documents a crash or a restart interrupted are indexed again from their saved uploads
    container._tasks.append(asyncio.create_task(collections.recover()))
    if redis.embedded:  # restart the embedded redis-server should it die
        container._tasks.append(asyncio.create_task(redis.supervise()))
    if settings.embeddings.preload:
        container._tasks.append(asyncio.create_task(container.embeddings.preload()))
    return container
