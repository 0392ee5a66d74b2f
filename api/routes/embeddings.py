"""POST /v1/embeddings with the bundled local embedders (OpenAI-compatible)."""

from __future__ import annotations

import base64

from fastapi import APIRouter, Response

from api.deps import EmbeddingServiceDep, PrincipalDep
from api.schemas.embeddings import EmbeddingData, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage
from inference.cache import HEADER

router = APIRouter(prefix="/v1", tags=["openai"])


@router.post("/embeddings", response_model=EmbeddingResponse)
async def create_embeddings(
    body: EmbeddingRequest, service: EmbeddingServiceDep, principal: PrincipalDep, response: Response
) -> EmbeddingResponse:
    """Embed a string or a list of strings. ``model`` defaults to the configured default embedder.
    Vectors of texts embedded before come from the cache: ``x-hearth-cache: hit`` when all of them did."""
    model = body.model or service.default_name
    result = await service.embed(model, body.input, input_type=body.input_type, dimensions=body.dimensions)
    response.headers[HEADER] = "hit" if result.cached == len(result.vectors) else "miss"
    if body.encoding_format == "base64":
        data = [
            EmbeddingData(index=i, embedding=base64.b64encode(vector.astype("<f4").tobytes()).decode())
            for i, vector in enumerate(result.vectors)
        ]
    else:
        data = [EmbeddingData(index=i, embedding=vector.tolist()) for i, vector in enumerate(result.vectors)]
    return EmbeddingResponse(
        data=data,
        model=result.model,
        usage=EmbeddingUsage(prompt_tokens=result.prompt_tokens, total_tokens=result.prompt_tokens),
    )
