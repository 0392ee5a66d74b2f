"""Errors of the indexing package.

    IndexingError
    ├── UnknownEmbeddingModel        no embedding model by that name (404, model_not_found)
    ├── EmbeddingInputError          the texts to embed are wrong: none, empty, not strings, too many (400)
    ├── EmbeddingBackendError        an embedding model failed to load or run, or its remote failed (503)
    ├── VectorStoreError             the vector store failed (503)
    │   └── VectorCollectionMissing  the store has no such collection
    ├── DocumentError                an upload cannot be indexed (400)
    │   ├── UnsupportedDocumentType  not PDF, TXT, Markdown, HTML or DOCX (415)
    │   ├── DocumentTooLarge         over ingestion.max_file_mb (413)
    │   └── UnreadableDocument       empty, corrupt or encrypted (422)
    │       └── NoExtractableText    pages without a text layer (422, no_extractable_text)
    ├── InvalidSummaryOptions        an unknown summary language, max_words out of range (400)
    ├── SummaryFailed                the model gave no usable summary after every attempt (502)
    └── (indexing/collections.py)    CollectionNotFound, DocumentNotFound (404), InvalidCollection (400),
                                     EmbedderMismatch (409)

Each carries ``message`` (safe to show a client), ``param`` (the request field at fault, if any) and ``code``;
the API maps each to a status code and the OpenAI error shape in one place (api/errors.py).
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


class VectorStoreError(IndexingError):
    """The vector store failed (engine error, unreachable server) or holds data it cannot use (503)."""

    code = "vector_store_unavailable"


class VectorCollectionMissing(VectorStoreError):
    """The vector store has no collection by that name (never ensured, or dropped)."""

    code = "collection_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"The vector collection '{name}' does not exist", param="collection")
        self.name = name


class DocumentError(IndexingError):
    """An uploaded document cannot be indexed as it is (the client must change the file)."""

    code = "invalid_document"

    def __init__(self, message: str, filename: str) -> None:
        super().__init__(message, param="file")
        self.filename = filename


class UnsupportedDocumentType(DocumentError):
    """Neither the name nor the content is PDF, TXT, Markdown, HTML or DOCX (415)."""

    code = "unsupported_document_type"


class DocumentTooLarge(DocumentError):
    """The file is over the configured size limit (413)."""

    code = "document_too_large"


class UnreadableDocument(DocumentError):
    """The file is corrupt, encrypted, empty or has no extractable text (422)."""

    code = "unreadable_document"


class NoExtractableText(UnreadableDocument):
    """The file opens but holds no text (a scan without OCR, blank pages) (422)."""

    code = "no_extractable_text"


class InvalidSummaryOptions(IndexingError):
    """A summary option is out of range: an unknown language, max_words too small or too large (400)."""

    code = "invalid_value"


class SummaryFailed(IndexingError):
    """The model answered, but never with a usable summary, in every allowed attempt (502)."""

    code = "summary_failed"
