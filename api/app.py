"""The FastAPI application. ``create_app()`` builds nothing until the lifespan runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.container import build_container
from api.errors import install_error_handlers
from api.logs import RequestLogMiddleware, configure_logging
from api.metrics import Metrics, MetricsMiddleware
from api.monitoring import drain, init_sentry
from api.routes import (
    chat,
    collections,
    embeddings,
    health,
    jobs,
    models,
    observability,
    rag,
    reports,
    summaries,
)
from configs.settings import Settings, load_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the container (engine, database, Redis, router, embedders) is built by the lifespan."""
    settings = settings or load_settings()
    configure_logging(settings.server.log_level, settings.server.log_json)
    init_sentry(settings.observability, release="0.1.0")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = await build_container(settings)
        app.state.container = container
        try:
            yield
        finally:
            await drain()  # error records still being written
            await container.aclose()

    app = FastAPI(
        title="Hearth",
        version="0.1.0",
        summary="Self-hosted AI services behind an OpenAI-compatible API",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for module in (
        health,
        models,
        chat,
        embeddings,
        collections,
        rag,
        jobs,
        reports,
        summaries,
        observability,
    ):
        app.include_router(module.router)
    if settings.observability.metrics_enabled:
        app.state.metrics = Metrics()  # inside the request log: it sees the request id
        app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(
        RequestLogMiddleware,
        log_bodies=settings.server.log_bodies,
        body_limit=settings.server.log_body_limit,
    )
    return app
