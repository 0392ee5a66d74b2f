"""Errors of the indexing package.

    IndexingError
    ├── UnknownEmbeddingModel     no embedding model by that name (404, model_not_found)
    ├── EmbeddingInputError       the texts to embed are wrong: none, empty, not strings, too many (400)
    └── EmbeddingBackendError     an embedding model failed to load or run, or its remote failed (503)

Each carries ``message`` (safe to show a client) and ``param`` (the request field at fault, if any); the API
maps each to a status code and the OpenAI error shape in one place (api/errors.py). Document errors join this
tree as the indexing package grows.
"""

from __future__ import annotations


class IndexingError(Exception):
    """Base of every error raised by the indexing package."""

    code: str = "indexing_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class UnknownEmbeddingModel(IndexingError):
    code = "model_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"The embedding model '{name}' does not exist", param="model")
        self.name = name


class EmbeddingInputError(IndexingError):
    code = "invalid_value"


class EmbeddingBackendError(IndexingError):
    code = "embedding_backend_unavailable"
