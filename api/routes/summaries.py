"""Document summaries (synchronous; several files at once go through ``POST /v1/summaries/batch``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, UploadFile
from fastapi.responses import JSONResponse

from api.deps import PrincipalDep, SummaryServiceDep
from api.schemas.summaries import SummaryOut

router = APIRouter(prefix="/v1", tags=["summaries"])


@router.post(
    "/summaries",
    response_model=SummaryOut,
    responses={
        400: {"description": "Unknown language or max_words out of range"},
        413: {"description": "File over HEARTH_SUMMARIES__MAX_FILE_MB"},
        415: {"description": "Not a PDF (or TXT, Markdown, HTML, DOCX)"},
        422: {"description": "Empty, corrupt or encrypted file, or no extractable text"},
        502: {"description": "The model gave no usable summary"},
    },
)
async def create_summary(
    file: UploadFile,
    service: SummaryServiceDep,
    principal: PrincipalDep,
    language: Annotated[
        str | None, Form(description="auto (the document's own, default), ko, en, ja, zh, de, fr or es")
    ] = None,
    max_words: Annotated[
        int | None, Form(ge=10, le=2000, description="Length of the summary (default 250)")
    ] = None,
) -> JSONResponse:
    """Summarise a PDF (multipart field ``file``): title, summary, key points and one summary per section
    (the PDF outline's chapters, else page ranges). Documents longer than the model's context are summarised
    section by section, then as a whole. The same file with the same options returns the stored result
    (header ``x-hearth-cache: hit``)."""
    data = await file.read(service.max_bytes + 1)  # one byte over is enough to refuse it
    result = await service.summarize(
        data,
        file.filename or "upload.pdf",
        tenant=principal.tenant,
        language=language,
        max_words=max_words,
        content_type=file.content_type,
    )
    return JSONResponse(
        SummaryOut.of(result).model_dump(mode="json"),
        headers={"x-hearth-cache": "hit" if result.cached else "miss"},
    )
