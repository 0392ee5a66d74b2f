"""GET /v1/models response (OpenAI shape, plus what kind of model each entry is)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "hearth"
    # Hearth's extension: chat | alias (of a chat model) | assistant (RAG, assistant/<name>) | embedding
    kind: str = "chat"
    context_window: int | None = None
    alias_of: str | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
