"""Grounded answers: query a collection, or ask an assistant (SSE streams send the citations after
the text)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.types import Scope

from api.deps import AnswerServiceDep, AssistantsDep, PrincipalDep
from api.errors import ApiError, guard_stream
from api.schemas.rag import AnswerOut, AskRequest, AssistantList, AssistantOut, QueryRequest
from indexing.answers import Answer
from indexing.assistants import AssistantSpec
from inference import sse
from inference.cache import HEADER

router = APIRouter(prefix="/v1", tags=["rag"])
_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}, sse.MEDIA_TYPE: {}}}
}


@router.post("/collections/{name}/query", response_model=AnswerOut, responses=_STREAM_DOC)
async def query_collection(
    name: str, body: QueryRequest, answers: AnswerServiceDep, principal: PrincipalDep, request: Request
) -> Response:
    """Answer a question from the collection's documents, citing them as [n] ↔ citations[n-1]. When nothing
    relevant is found, ``found`` is false and the answer says the documents do not cover it. Streamed, a
    failure after the citations is sent as an ``error`` event before ``[DONE]``."""
    if body.stream:
        answer, deltas = await answers.ask_stream(
            principal.tenant, name, body.question, top_k=body.top_k, session_id=body.session_id
        )
        return _sse(answer, deltas, request.scope)
    answer = await answers.ask(
        principal.tenant, name, body.question, top_k=body.top_k, session_id=body.session_id
    )
    return _json(answer)


@router.get("/assistants", response_model=AssistantList)
async def list_assistants(assistants: AssistantsDep, principal: PrincipalDep) -> AssistantList:
    """The configured assistants (configs/assistants.yaml)."""
    return AssistantList(
        data=[
            AssistantOut(
                name=a.name, description=a.description, collection=a.collection, model=f"assistant/{a.name}"
            )
            for a in assistants.values()
        ]
    )


@router.post("/assistants/{assistant}/ask", response_model=AnswerOut, responses=_STREAM_DOC)
async def ask_assistant(
    assistant: str,
    body: AskRequest,
    answers: AnswerServiceDep,
    assistants: AssistantsDep,
    principal: PrincipalDep,
    request: Request,
) -> Response:
    """Ask an assistant (its collection, prompt and retrieval settings); same answer shape as a query."""
    spec = find_assistant(assistants, assistant)
    if body.stream:
        answer, deltas = await answers.ask_stream(
            principal.tenant, spec.collection, body.question, session_id=body.session_id, assistant=spec
        )
        return _sse(answer, deltas, request.scope)
    answer = await answers.ask(
        principal.tenant, spec.collection, body.question, session_id=body.session_id, assistant=spec
    )
    return _json(answer)


def find_assistant(assistants: dict[str, AssistantSpec], name: str) -> AssistantSpec:
    spec = assistants.get(name)
    if spec is None:
        raise ApiError(
            404, f"The assistant '{name}' does not exist", code="assistant_not_found", param="assistant"
        )
    return spec


def _sse(answer: Answer, deltas: AsyncIterator[str], scope: Scope) -> StreamingResponse:
    """delta..., citations, done, [DONE]; or delta..., error, [DONE] (see guard_stream). Each delta is checked
    text; the citations (the passages the answer used, [k] = citations[k-1]) are known once it is written."""

    async def events() -> AsyncIterator[bytes]:
        async for delta in deltas:
            yield sse.frame({"type": "delta", "content": delta})
        tail = answer.as_dict()
        yield sse.frame(
            {
                "type": "citations",
                "found": tail["found"],
                "citations": tail["citations"],
                "session_id": tail["session_id"],
            }
        )
        yield sse.frame({"type": "done", "answer": answer.answer, "usage": answer.usage})
        yield sse.DONE

    return StreamingResponse(
        guard_stream(events(), scope),
        media_type=sse.MEDIA_TYPE,
        headers={**sse.HEADERS, **cache_header(answer)},
    )


def _json(answer: Answer) -> Response:
    return Response(
        orjson.dumps(answer.as_dict()), media_type="application/json", headers=cache_header(answer)
    )


def cache_header(answer: Answer) -> dict[str, str]:
    """``x-hearth-cache: hit`` on an answer served from the cache, ``miss`` on any other."""
    return {HEADER: "hit" if answer.cached else "miss"}
