"""FastAPI dependencies as Annotated aliases; tests swap them with app.dependency_overrides."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.container import Container
from api.security import Principal
from indexing.answers import AnswerService
from indexing.assistants import AssistantSpec
from indexing.collections import CollectionService
from indexing.embedding_service import EmbeddingService
from inference.gateway import ChatGateway


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def get_principal(request: Request, container: ContainerDep) -> Principal:
    principal = await container.auth.authenticate(request.headers.get("authorization"))
    request.scope.setdefault("state", {})["key_name"] = principal.name
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_gateway(container: ContainerDep) -> ChatGateway:
    return container.gateway


GatewayDep = Annotated[ChatGateway, Depends(get_gateway)]


async def get_embeddings(container: ContainerDep) -> EmbeddingService:
    return container.embeddings


EmbeddingServiceDep = Annotated[EmbeddingService, Depends(get_embeddings)]


async def get_collections(container: ContainerDep) -> CollectionService:
    return container.collections


CollectionServiceDep = Annotated[CollectionService, Depends(get_collections)]


async def get_answers(container: ContainerDep) -> AnswerService:
    return container.answers


AnswerServiceDep = Annotated[AnswerService, Depends(get_answers)]


async def get_assistants(container: ContainerDep) -> dict[str, AssistantSpec]:
    return container.assistants


AssistantsDep = Annotated[dict[str, AssistantSpec], Depends(get_assistants)]
