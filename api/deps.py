"""FastAPI dependencies as Annotated aliases; tests swap them with app.dependency_overrides."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.container import Container
from api.errors import ApiError
from api.security import Principal, rate_limited
from indexing.answers import AnswerService
from indexing.assistants import AssistantSpec
from indexing.collections import CollectionService
from indexing.embedding_service import EmbeddingService
from indexing.summaries import SummaryService
from inference.cache import ResponseCache
from inference.gateway import ChatGateway
from workers.jobs import JobService
from workers.reports.service import ReportService


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def get_principal(request: Request, container: ContainerDep) -> Principal:
    """The caller's key, within its rate limits (429 ``rate_limit_exceeded`` with Retry-After beyond them)."""
    principal = await container.auth.authenticate(request.headers.get("authorization"))
    state = request.scope.setdefault("state", {})
    state["key_name"] = principal.name
    if container.limiter is not None and container.limiter.active:
        refusal = await container.limiter.check(principal.key_id, principal.name)
        if refusal is not None:
            state["rate_limited"] = refusal.kind
            raise rate_limited(principal, refusal)
    state["principal"] = principal  # counted in usage (api.metrics) from here on
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_admin(principal: PrincipalDep) -> Principal:
    if not principal.is_admin:
        raise ApiError(
            403,
            "This endpoint needs an admin key (HEARTH_AUTH__ADMIN_KEYS, or hearth keys create --admin).",
            type="invalid_request_error",
            code="permission_denied",
        )
    return principal


AdminDep = Annotated[Principal, Depends(get_admin)]


async def get_gateway(container: ContainerDep) -> ChatGateway:
    return container.gateway


GatewayDep = Annotated[ChatGateway, Depends(get_gateway)]


async def get_cache(container: ContainerDep) -> ResponseCache:
    return container.cache


CacheDep = Annotated[ResponseCache, Depends(get_cache)]


async def get_embeddings(container: ContainerDep) -> EmbeddingService:
    return container.embeddings


EmbeddingServiceDep = Annotated[EmbeddingService, Depends(get_embeddings)]


async def get_collections(container: ContainerDep) -> CollectionService:
    if container.collections is None:  # never in the API process; a worker has no RAG components
        raise RuntimeError("this process has no collection service")
    return container.collections


CollectionServiceDep = Annotated[CollectionService, Depends(get_collections)]


async def get_answers(container: ContainerDep) -> AnswerService:
    if container.answers is None:
        raise RuntimeError("this process has no answer service")
    return container.answers


AnswerServiceDep = Annotated[AnswerService, Depends(get_answers)]


async def get_assistants(container: ContainerDep) -> dict[str, AssistantSpec]:
    return container.assistants


AssistantsDep = Annotated[dict[str, AssistantSpec], Depends(get_assistants)]


async def get_jobs(container: ContainerDep) -> JobService:
    return container.jobs


JobServiceDep = Annotated[JobService, Depends(get_jobs)]


async def get_reports(container: ContainerDep) -> ReportService:
    return container.reports


ReportServiceDep = Annotated[ReportService, Depends(get_reports)]


async def get_summaries(container: ContainerDep) -> SummaryService:
    return container.summaries


SummaryServiceDep = Annotated[SummaryService, Depends(get_summaries)]
