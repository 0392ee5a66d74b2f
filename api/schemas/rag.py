"""Collections, documents, queries and assistants: request and response bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class CollectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, description="Letters, digits, '.', '_' or '-'")
    description: str | None = Field(default=None, max_length=2000)
    embedder: str | None = Field(default=None, description="Embedding model (default: the server's default)")


class CollectionOut(BaseModel):
    name: str
    description: str | None
    embedder: str
    documents: int
    content_version: int
    created_at: datetime


class CollectionList(BaseModel):
    object: str = "list"
    data: list[CollectionOut]


class DocumentOut(BaseModel):
    document_id: str = Field(description="sha256 of the document's bytes")
    filename: str
    chunks: int
    pages: int
    status: str = Field(description="queued | indexing | indexed | failed")
    progress: float
    error: str | None = None
    kind: str
    size_bytes: int
    created_at: datetime
    updated_at: datetime
    duplicate: bool = Field(default=False, description="True when these bytes were already in the collection")


class DocumentList(BaseModel):
    object: str = "list"
    data: list[DocumentOut]


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(
        min_length=1,
        max_length=4000,
        examples=["월세 세액공제율은 얼마인가요?", "How do I reset the device?"],
    )
    top_k: int | None = Field(default=None, ge=1, le=20)
    stream: bool = False
    session_id: str | None = Field(default=None, min_length=1, max_length=100)


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(
        min_length=1,
        max_length=4000,
        examples=["월세 세액공제율은 얼마인가요?", "How do I reset the device?"],
    )
    session_id: str | None = Field(default=None, min_length=1, max_length=100)
    stream: bool = False


class CitationOut(BaseModel):
    document_id: str
    filename: str
    page: int | None
    chunk_id: str
    score: float
    text: str = Field(description="The whole passage (chunk)")
    section: str | None = Field(default=None, description="The passage's heading path, where it has one")
    quote: str = Field(default="", description="The passage's sentence that bears most on the question")


class AnswerOut(BaseModel):
    answer: str
    found: bool
    citations: list[CitationOut]
    session_id: str | None
    usage: dict[str, int]


class AssistantOut(BaseModel):
    name: str
    description: str
    collection: str
    model: str = Field(
        description="The chat model name that reaches this assistant through /v1/chat/completions"
    )


class AssistantList(BaseModel):
    object: str = "list"
    data: list[AssistantOut]
