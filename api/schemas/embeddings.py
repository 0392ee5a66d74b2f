"""OpenAI embeddings request/response schemas."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class EmbeddingRequest(BaseModel):
    """POST /v1/embeddings body. ``input_type`` is Hearth's extension for asymmetric models (e5):
    ``query`` (default) for search queries and symmetric similarity, ``passage`` for documents."""

    model_config = ConfigDict(extra="allow")

    model: str | None = Field(default=None, examples=["multilingual-e5-small"])
    input: str | list[str] = Field(
        description="A string or a list of strings",
        examples=["연말정산 의료비 공제 한도", ["first", "second"]],
    )
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    input_type: Literal["query", "passage"] = "query"
    user: str | None = None


class EmbeddingData(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingData]
    model: str
    usage: EmbeddingUsage
