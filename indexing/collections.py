"""Collections and document ingestion: bytes in, chunks in the vector store, all or nothing.

A document is identified by the sha256 of its bytes (re-uploading adds nothing). Its chunks are written as
``pending`` points and become visible to search only when all of them are in (``publish``); any failure
deletes what was written (one filtered delete). Uploaded bytes wait in ``<data>/uploads`` until indexed, so
a crash loses no queued work: ``recover()`` at start-up re-indexes what was interrupted.

    upload ─ load_document (type, size, text) ─ register (dedup by sha256) ─┬─ small: index now
                                                                           └─ large: 202, index in background
    index: clean → chunk → embed (IngestionPipeline) → sparse → upsert(pending) → publish → status indexed
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from configs.settings import IngestionSettings
from indexing.embedding_service import EmbeddingService
from indexing.errors import IndexingError
from indexing.loaders import LoadedDocument, load_document
from indexing.pipeline import build_ingestion_pipeline, nodes_to_chunks
from indexing.sparse import SparseEncoder
from indexing.vector_store import VectorStore
from storage.collections import CollectionRecord, CollectionRepository, DocumentRecord

log = logging.getLogger("hearth.ingestion")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
UPSERT_BATCH = 256


class CollectionNotFound(IndexingError):
    code = "collection_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"The collection '{name}' does not exist", param="name")


class DocumentNotFound(IndexingError):
    code = "document_not_found"

    def __init__(self, document_id: str) -> None:
        super().__init__(
            f"The document '{document_id}' does not exist in this collection", param="document_id"
        )


class InvalidCollection(IndexingError):
    code = "invalid_collection"


class EmbedderMismatch(IndexingError):
    """A collection is queried or filled with an embedder other than the one it was built with."""

    code = "embedder_mismatch"


@dataclass(frozen=True)
class IngestResult:
    document: DocumentRecord
    created: bool  # False: the same bytes were already in the collection
    background: bool  # True: indexing continues after the response (poll the document for progress)


class CollectionService:
    def __init__(
        self,
        settings: IngestionSettings,
        repo: CollectionRepository,
        store: VectorStore,
        embeddings: EmbeddingService,
        sparse: SparseEncoder,
        uploads_dir: Path,
    ) -> None:
        self._settings = settings
        self._repo = repo
        self._store = store
        self._embeddings = embeddings
        self._sparse = sparse
        self._uploads = uploads_dir
        self._uploads.mkdir(parents=True, exist_ok=True)
        # the embedded store is owned by this process and written from one thread
        self._store_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hearth-store")
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def max_bytes(self) -> int:
        return int(self._settings.max_file_mb * 1024 * 1024)

    # -- collections -----------------------------------------------------------------------------------------

    async def create(
        self, tenant: str, name: str, description: str | None, embedder: str | None
    ) -> CollectionRecord:
        if not _NAME.match(name):
            raise InvalidCollection(
                "collection names are 1-100 characters of letters, digits, '.', '_' or '-', starting with a "
                "letter or digit",
                param="name",
            )
        embedder_name = embedder or self._embeddings.default_name
        model = self._embeddings.get(embedder_name)  # UnknownEmbeddingModel → 404
        record = await asyncio.to_thread(self._repo.create, tenant, name, description, embedder_name)
        dims = await asyncio.to_thread(lambda: model.dimensions)
        await self._in_store(self._store.ensure_collection, record.store_name, dims)
        return record

    async def get(self, tenant: str, name: str) -> CollectionRecord:
        record = await asyncio.to_thread(self._repo.get, tenant, name)
        if record is None:
            raise CollectionNotFound(name)
        return record

    async def list(self, tenant: str) -> list[CollectionRecord]:
        return await asyncio.to_thread(self._repo.list, tenant)

    async def delete(self, tenant: str, name: str) -> None:
        record = await self.get(tenant, name)
        await self._in_store(self._store.drop_collection, record.store_name)
        await asyncio.to_thread(self._repo.delete, record.id)

    # -- documents -------------------------------------------------------------------------------------------

    async def list_documents(self, tenant: str, name: str) -> builtins.list[DocumentRecord]:
        record = await self.get(tenant, name)
        return await asyncio.to_thread(self._repo.list_documents, record.id)

    async def get_document(self, tenant: str, name: str, document_id: str) -> DocumentRecord:
        record = await self.get(tenant, name)
        document = await asyncio.to_thread(self._repo.get_document, record.id, document_id)
        if document is None:
            raise DocumentNotFound(document_id)
        return document

    async def delete_document(self, tenant: str, name: str, document_id: str) -> None:
        record = await self.get(tenant, name)
        if not await asyncio.to_thread(self._repo.delete_document, record.id, document_id):
            raise DocumentNotFound(document_id)
        await self._in_store(self._store.delete_document, record.store_name, document_id)
        await asyncio.to_thread(self._repo.bump_version, record.id)

    async def ingest(
        self,
        tenant: str,
        name: str,
        data: bytes,
        filename: str,
        content_type: str | None = None,
        *,
        background: bool | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> IngestResult:
        """Validate, register and index one upload. ``background=None`` decides by size."""
        record = await self.get(tenant, name)
        loaded = await asyncio.to_thread(
            load_document, data, filename, max_bytes=self.max_bytes, content_type=content_type
        )
        document, created = await asyncio.to_thread(
            self._repo.add_document,
            record.id,
            loaded.document_id,
            loaded.filename,
            loaded.kind,
            len(data),
            loaded.pages,
        )
        if not created:
            return IngestResult(document, created=False, background=False)
        upload = self._uploads / f"{record.id}-{loaded.document_id}"
        await asyncio.to_thread(upload.write_bytes, data)
        if background is None:
            background = len(data) > self._settings.background_over_kb * 1024
        if background:
            task = asyncio.create_task(self._index_logged(record, loaded, upload, progress))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return IngestResult(document, created=True, background=True)
        await self._index(record, loaded, upload, progress)
        done = await asyncio.to_thread(self._repo.get_document, record.id, loaded.document_id)
        assert done is not None
        return IngestResult(done, created=True, background=False)

    async def _index_logged(
        self,
        record: CollectionRecord | _CollectionRef,
        loaded: LoadedDocument,
        upload: Path,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        try:
            await self._index(record, loaded, upload, progress)
        except Exception:
            log.exception("background ingestion of %s failed", loaded.filename)

    async def _index(
        self,
        record: CollectionRecord | _CollectionRef,
        loaded: LoadedDocument,
        upload: Path,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        repo, doc_id = self._repo, loaded.document_id
        await asyncio.to_thread(repo.update_document, record.id, doc_id, status="indexing", progress=0.0)
        try:
            embedder = self._embeddings.get(record.embedder)

            def report(done: int, total: int) -> None:
                repo.update_document(record.id, doc_id, progress=round(0.9 * done / max(total, 1), 3))
                if progress is not None:
                    progress(done, total)

            def build() -> tuple[list[Any], Any]:
                pipeline = build_ingestion_pipeline(
                    embedder,
                    chunk_tokens=self._settings.chunk_tokens,
                    overlap_tokens=self._settings.chunk_overlap_tokens,
                    embed_batch=self._settings.embed_batch,
                    progress=report,
                )
                nodes = pipeline.run(documents=loaded.documents)
                chunks = nodes_to_chunks(doc_id, loaded.filename, nodes)
                import numpy as np

                dense = np.asarray([node.embedding for node in nodes], dtype=np.float32)
                sparse = self._sparse.encode_documents([chunk.text for chunk in chunks])
                return [chunks, sparse], dense

            (chunks, sparse), dense = await asyncio.to_thread(build)
            if not chunks:
                raise IndexingError(f"'{loaded.filename}' has no text to index")

            def write() -> None:
                self._store.delete_document(record.store_name, doc_id)  # leftovers of an interrupted run
                for start in range(0, len(chunks), UPSERT_BATCH):
                    end = start + UPSERT_BATCH
                    self._store.upsert(
                        record.store_name, chunks[start:end], dense[start:end], sparse[start:end]
                    )
                self._store.publish(record.store_name, doc_id)

            await self._in_store(write)
            await asyncio.to_thread(
                repo.update_document,
                record.id,
                doc_id,
                status="indexed",
                progress=1.0,
                chunks=len(chunks),
                pages=loaded.pages,
                error=None,
            )
            await asyncio.to_thread(repo.bump_version, record.id)
            await asyncio.to_thread(upload.unlink, True)
            log.info("indexed %s: %d chunks, %d pages", loaded.filename, len(chunks), loaded.pages)
        except asyncio.CancelledError:
            # shutting down: drop the partial chunks, keep the upload and the status; recover() resumes it
            await self._in_store(self._store.delete_document, record.store_name, doc_id)
            raise
        except Exception as exc:
            # all or nothing: no chunk of a failed document stays in the store
            await self._in_store(self._store.delete_document, record.store_name, doc_id)
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            await asyncio.to_thread(
                repo.update_document, record.id, doc_id, status="failed", error=message[:2000]
            )
            await asyncio.to_thread(upload.unlink, True)
            raise

    async def recover(self) -> int:
        """Re-index what a crash interrupted (its bytes are still in uploads/); returns how many."""
        count = 0
        for store_name, document in await asyncio.to_thread(self._repo.unfinished_documents):
            await self._in_store(self._store.delete_document, store_name, document.document_id)
            upload = self._uploads / f"{document.collection_id}-{document.document_id}"
            if not upload.exists():
                await asyncio.to_thread(
                    self._repo.update_document,
                    document.collection_id,
                    document.document_id,
                    status="failed",
                    error="interrupted by a restart and the upload is gone: upload it again",
                )
                continue
            data = await asyncio.to_thread(upload.read_bytes)
            loaded = await asyncio.to_thread(load_document, data, document.filename, max_bytes=len(data) + 1)
            collection = _CollectionRef(document.collection_id, store_name, await self._embedder_of(document))
            task = asyncio.create_task(self._index_logged(collection, loaded, upload, None))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            count += 1
        return count

    async def _embedder_of(self, document: DocumentRecord) -> str:
        for record in await asyncio.to_thread(self._repo.all_collections):
            if record.id == document.collection_id:
                return record.embedder
        return self._embeddings.default_name

    async def _in_store(self, func: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._store_thread, func, *args)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._store_thread.shutdown(wait=True)


@dataclass(frozen=True)
class _CollectionRef:
    id: str
    store_name: str
    embedder: str
