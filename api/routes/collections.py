"""Collections and their documents (per tenant: another tenant's key gets 404)."""

from __future__ import annotations

from fastapi import APIRouter, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from api.deps import CollectionServiceDep, PrincipalDep
from api.schemas.rag import CollectionCreate, CollectionList, CollectionOut, DocumentList, DocumentOut
from api.uploads import read_upload
from storage.collections import CollectionRecord, DocumentRecord

router = APIRouter(prefix="/v1/collections", tags=["collections"])


def collection_out(record: CollectionRecord) -> CollectionOut:
    return CollectionOut(
        name=record.name,
        description=record.description,
        embedder=record.embedder,
        documents=record.documents,
        content_version=record.content_version,
        created_at=record.created_at,
    )


def document_out(record: DocumentRecord, duplicate: bool = False) -> DocumentOut:
    return DocumentOut(
        document_id=record.document_id,
        filename=record.filename,
        chunks=record.chunks,
        pages=record.pages,
        status=record.status,
        progress=record.progress,
        error=record.error,
        kind=record.kind,
        size_bytes=record.size_bytes,
        created_at=record.created_at,
        updated_at=record.updated_at,
        duplicate=duplicate,
    )


@router.post("", status_code=201, response_model=CollectionOut)
async def create_collection(
    body: CollectionCreate, service: CollectionServiceDep, principal: PrincipalDep
) -> CollectionOut:
    """Create a collection; its embedder is recorded and used for every document and query."""
    return collection_out(await service.create(principal.tenant, body.name, body.description, body.embedder))


@router.get("", response_model=CollectionList)
async def list_collections(service: CollectionServiceDep, principal: PrincipalDep) -> CollectionList:
    """The caller's collections."""
    return CollectionList(data=[collection_out(r) for r in await service.list(principal.tenant)])


@router.get("/{name}", response_model=CollectionOut)
async def get_collection(name: str, service: CollectionServiceDep, principal: PrincipalDep) -> CollectionOut:
    """One collection."""
    return collection_out(await service.get(principal.tenant, name))


@router.delete("/{name}", status_code=204)
async def delete_collection(name: str, service: CollectionServiceDep, principal: PrincipalDep) -> Response:
    """Delete a collection with all its documents and chunks."""
    await service.delete(principal.tenant, name)
    return Response(status_code=204)


@router.post(
    "/{name}/documents",
    response_model=DocumentOut,
    status_code=201,
    responses={
        200: {"description": "The same bytes were already indexed: nothing added"},
        202: {"description": "Large upload: indexing continues; GET the document for progress"},
        413: {"description": "File too large"},
        415: {"description": "Unsupported type"},
        422: {"description": "Unreadable document (encrypted, corrupt, empty, no text)"},
    },
)
async def upload_document(
    name: str, file: UploadFile, request: Request, service: CollectionServiceDep, principal: PrincipalDep
) -> JSONResponse:
    """Upload a PDF, TXT, Markdown, HTML or DOCX file (multipart field ``file``). It is indexed completely or
    not at all; re-uploading the same bytes adds nothing."""
    data = await read_upload(file, service.max_bytes, setting="HEARTH_INGESTION__MAX_FILE_MB", param="file")
    result = await service.ingest(principal.tenant, name, data, file.filename or "upload", file.content_type)
    status = 202 if result.background else (201 if result.created else 200)
    body = document_out(result.document, duplicate=not result.created)
    return JSONResponse(body.model_dump(mode="json"), status_code=status)


@router.get("/{name}/documents", response_model=DocumentList)
async def list_documents(name: str, service: CollectionServiceDep, principal: PrincipalDep) -> DocumentList:
    """The collection's documents with their indexing status."""
    return DocumentList(data=[document_out(d) for d in await service.list_documents(principal.tenant, name)])


@router.get("/{name}/documents/{document_id}", response_model=DocumentOut)
async def get_document(
    name: str, document_id: str, service: CollectionServiceDep, principal: PrincipalDep
) -> DocumentOut:
    """One document: status (queued, indexing, indexed, failed), progress and error."""
    return document_out(await service.get_document(principal.tenant, name, document_id))


@router.delete("/{name}/documents/{document_id}", status_code=204)
async def delete_document(
    name: str, document_id: str, service: CollectionServiceDep, principal: PrincipalDep
) -> Response:
    """Delete a document and its chunks (one filtered delete, whatever the document's size)."""
    await service.delete_document(principal.tenant, name, document_id)
    return Response(status_code=204)
