"""GET /v1/models: chat models (and their aliases) and embedding models."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ContainerDep, PrincipalDep
from api.errors import ApiError
from api.schemas.models import ModelCard, ModelList

router = APIRouter(prefix="/v1", tags=["openai"])


def _cards(container: ContainerDep) -> list[ModelCard]:
    created = int(container.started_at)
    catalog = container.catalog
    cards = [
        ModelCard(id=group, created=created, kind="chat", context_window=catalog.context_window(group))
        for group in catalog.groups
    ]
    cards += [
        ModelCard(
            id=alias,
            created=created,
            kind="alias",
            alias_of=target,
            context_window=catalog.context_window(target),
        )
        for alias, target in catalog.aliases.items()
    ]
    default_model = container.settings.gateway.default_model
    default_group = catalog.aliases.get(default_model, default_model)
    assistant_context = catalog.context_window(default_group) if default_group in catalog.groups else None
    cards += [
        ModelCard(
            id=f"assistant/{name}",
            created=created,
            kind="assistant",
            context_window=assistant_context,
        )
        for name in container.assistants
    ]
    cards += [
        ModelCard(
            id=name,
            created=created,
            kind="embedding",
            context_window=container.embeddings.get(name).max_tokens,
        )
        for name in container.embeddings.names()
    ]
    return cards


@router.get("/models", response_model=ModelList)
async def list_models(container: ContainerDep, principal: PrincipalDep) -> ModelList:
    """List the models this server offers (OpenAI-compatible)."""
    return ModelList(data=_cards(container))


@router.get("/models/{model_id:path}", response_model=ModelCard)
async def get_model(model_id: str, container: ContainerDep, principal: PrincipalDep) -> ModelCard:
    """One model by id."""
    for card in _cards(container):
        if card.id == model_id:
            return card
    raise ApiError(404, f"The model '{model_id}' does not exist", code="model_not_found", param="model")
