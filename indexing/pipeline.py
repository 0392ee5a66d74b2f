"""The ingestion pipeline: CleanText → SentenceChunker → EmbedNodes, run by a LlamaIndex IngestionPipeline.

    pipeline = build_ingestion_pipeline(embedder, chunk_tokens=256, overlap_tokens=32, embed_batch=32)
    nodes = pipeline.run(documents=loaded.documents)      # TextNodes with .embedding set
    chunks = nodes_to_chunks(loaded.document_id, loaded.filename, nodes)

The pipeline has no docstore and no cache: the caller deduplicates whole documents by the sha256 of their
bytes before running it, and node-level caching would only cost hashing time. Sparse vectors and the
vector store are the caller's business too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.schema import BaseNode, MetadataMode, TransformComponent
from pydantic import Field

from indexing.chunking import CleanText, SentenceChunker
from indexing.embedders import Embedder
from indexing.loaders import LoadedDocument
from indexing.types import Chunk, chunk_id

Progress = Callable[[int, int], None]


class EmbedNodes(TransformComponent):
    """Set ``node.embedding`` (input type "passage") in batches of ``batch``, reporting (done, total)."""

    embedder: Any = Field(exclude=True)
    batch: int = 32
    progress: Any = Field(default=None, exclude=True)

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        embedder: Embedder = self.embedder
        progress: Progress | None = self.progress
        total = len(nodes)
        size = max(1, self.batch)
        if progress is not None:
            progress(0, total)
        for start in range(0, total, size):
            batch = nodes[start : start + size]
            vectors = embedder.embed(
                [n.get_content(metadata_mode=MetadataMode.NONE) for n in batch], "passage"
            )
            for node, vector in zip(batch, vectors.tolist(), strict=True):
                node.embedding = vector
            if progress is not None:
                progress(min(start + size, total), total)
        return nodes


def build_ingestion_pipeline(
    embedder: Embedder,
    *,
    chunk_tokens: int,
    overlap_tokens: int,
    embed_batch: int,
    progress: Progress | None = None,
    heading_prefix: bool = True,
) -> IngestionPipeline:
    """Clean → chunk (sized with ``embedder.count_tokens``, capped at its ``max_tokens``) → embed.

    No docstore: documents are deduplicated by the caller (sha256 of the bytes) before this runs.
    ``progress(done, total)`` is called after each embedding batch, counting chunks.
    """
    size = min(chunk_tokens, embedder.max_tokens)
    overlap = min(overlap_tokens, size // 2)

    def count(text: str) -> int:
        return embedder.count_tokens(text, "passage")

    return IngestionPipeline(
        transformations=[
            CleanText(),
            SentenceChunker(
                count_tokens=count, chunk_tokens=size, overlap_tokens=overlap, heading_prefix=heading_prefix
            ),
            EmbedNodes(embedder=embedder, batch=embed_batch, progress=progress),
        ],
        disable_cache=True,
    )


def nodes_to_chunks(document_id: str, filename: str, nodes: Sequence[BaseNode]) -> list[Chunk]:
    """The domain Chunks of one document's nodes, indexed in order (ids from :func:`chunk_id`)."""
    chunks: list[Chunk] = []
    for index, node in enumerate(nodes):
        metadata = node.metadata
        page = metadata.get("page")
        chunks.append(
            Chunk(
                id=chunk_id(document_id, index),
                document_id=document_id,
                index=index,
                text=node.get_content(metadata_mode=MetadataMode.NONE),
                filename=filename,
                page=int(page) if page is not None else None,
                heading=metadata.get("heading") or None,
                language=str(metadata.get("language") or "und"),
            )
        )
    return chunks


def chunk_document(loaded: LoadedDocument, pipeline: IngestionPipeline) -> list[tuple[Chunk, list[float]]]:
    """Run ``pipeline`` on one loaded document: its chunks, each with its dense vector."""
    nodes = pipeline.run(documents=loaded.documents)
    chunks = nodes_to_chunks(loaded.document_id, loaded.filename, nodes)
    return [(chunk, list(node.embedding or [])) for chunk, node in zip(chunks, nodes, strict=True)]
