"""``model: assistant/<name>`` on /v1/chat/completions: a RAG assistant in the OpenAI chat shape, so
Open WebUI or any OpenAI client can talk to it.

The answer's citations (only the passages it used; marker ``[k]`` is ``citations[k-1]``) come three ways:

* ``citations`` and ``found`` fields beside ``choices``; when streaming, in the last chunk, the one with the
  finish reason, since they are known only once the answer is written;
* a sources list at the end of the text, one line per citation (file, page, heading, the sentence that
  bears on the question), which any chat UI shows;
* when streaming, an ``event`` field in that last chunk: Open WebUI's ``source`` event, which its streaming
  handler passes to its event emitter for any OpenAI connection (open_webui/utils/middleware.py,
  ``streaming_chat_response_handler``: ``if 'event' in data: await event_emitter(data['event'])``). It
  stores the citations as the chat message's ``sources`` (socket/main.py, ``get_event_emitter``) and shows
  them as its numbered source chips, which its ``[k]`` markers link to. Other clients ignore the field.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi.responses import Response, StreamingResponse
from starlette.types import Scope

from api.errors import ApiError, guard_stream
from api.security import Principal
from indexing.answers import Answer, AnswerService, Citation
from indexing.assistants import AssistantSpec
from inference import sse
from inference.cache import HEADER
from inference.language import detect_language

ASSISTANT_PREFIX = "assistant/"
QUOTE_CHARS = 160
_LIST_MARKER = re.compile(r"^(?:[-*+]|\d{1,3}[.)])\s+")


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(part.get("text") or "" for part in content if isinstance(part, dict))
    return str(content or "")


def sources_footer(answer: Answer, question: str) -> str:
    """The sources list appended to the answer's text, headed in the answer's language (the question's,
    when the answer's own words do not say), or "" when nothing is cited."""
    if not answer.found or not answer.citations:
        return ""
    language = detect_language(answer.answer)
    korean = language == "ko" or (language == "und" and detect_language(question) == "ko")
    lines = [source_line(c) for c in answer.citations]
    return "\n\n" + ("출처:" if korean else "Sources:") + "\n" + "\n".join(lines)


def source_line(citation: Citation) -> str:
    """``[k] filename, p.N — section: “quote”``, without the parts the citation lacks; the section is
    its last two headings and the quote at most QUOTE_CHARS characters."""
    line = f"[{citation.index}] {_label(citation)}"
    quote = _shorten(_plain(citation.quote), QUOTE_CHARS)
    if quote:
        line += f"{':' if _section(citation) else ' —'} “{quote}”"
    return line


def openwebui_source_event(answer: Answer) -> dict[str, Any] | None:
    """Open WebUI's ``source`` event for the answer's citations, or None when nothing is cited.

    One event holds them all: Open WebUI makes one source of each document whose ``metadata.source`` is new
    (Messages/Citations.svelte), so a distinct id per citation keeps source k on citation k, which is what
    the answer's ``[k]`` means. ``metadata.page`` counts from 0 there (it shows page + 1)."""
    if not answer.found or not answer.citations:
        return None
    documents, metadata = [], []
    for citation in answer.citations:
        quote = _plain(citation.quote)
        documents.append(f"> {quote}\n\n{citation.text}" if quote else citation.text)
        meta: dict[str, Any] = {
            "source": f"hearth:{citation.chunk_id or citation.index}",
            "name": _label(citation),
            "file": citation.filename,
            "document_id": citation.document_id,
            "chunk_id": citation.chunk_id,
            "quote": quote,
        }
        if citation.section:
            meta["section"] = citation.section
        if citation.page:
            meta["page"] = citation.page - 1
        metadata.append(meta)
    return {
        "type": "source",
        "data": {"source": {"name": metadata[0]["name"]}, "document": documents, "metadata": metadata},
    }


def _label(citation: Citation) -> str:
    """``filename, p.N — section``: what the citation points at."""
    label = citation.filename + (f", p.{citation.page}" if citation.page else "")
    section = _section(citation)
    return f"{label} — {section}" if section else label


def _section(citation: Citation) -> str:
    """The last two headings of the citation's heading path: the whole path is too long for a line."""
    headings = [_squash(part) for part in (citation.section or "").split(">") if part.strip()]
    return " > ".join(headings[-2:])


def _squash(text: str) -> str:
    return " ".join(text.split())  # one line: a quote may span the chunk's line breaks


def _plain(quote: str) -> str:
    """The quoted sentence on one line, without the Markdown of the document it comes from (a list item's
    marker, bold), which would show as such between quotation marks."""
    return _LIST_MARKER.sub("", _squash(quote).replace("**", "").replace("__", ""))


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    # at a word boundary where there is one near the end (Korean has spaces between words too)
    space = cut.rfind(" ")
    if space > limit * 2 // 3:
        cut = cut[:space]
    return cut.rstrip(" ,.;:") + "…"


async def assistant_completion(
    payload: dict[str, Any],
    principal: Principal,
    answers: AnswerService,
    assistants: dict[str, AssistantSpec],
    scope: Scope | None = None,
) -> Response:
    """The assistant's answer as a chat completion, or as its stream of chunks (``scope``: the request's,
    for the error log when a stream fails mid-answer)."""
    model = payload["model"]
    spec = assistants.get(model.removeprefix(ASSISTANT_PREFIX))
    if spec is None:
        raise ApiError(404, f"The model '{model}' does not exist", code="model_not_found", param="model")
    messages = payload["messages"]
    if messages[-1].get("role") != "user" or not _text(messages[-1].get("content")).strip():
        raise ApiError(
            400, "The last message must be the user's question", code="invalid_value", param="messages"
        )
    question = _text(messages[-1]["content"])
    history = [
        (m["role"], _text(m.get("content"))) for m in messages[:-1] if m.get("role") in ("user", "assistant")
    ]
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if not payload.get("stream"):
        answer = await answers.ask(
            principal.tenant, spec.collection, question, assistant=spec, history=history
        )
        body = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": answer.answer + sources_footer(answer, question),
                    },
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(answer),
            "citations": answer.as_dict()["citations"],
            "found": answer.found,
        }
        return Response(orjson.dumps(body), media_type="application/json", headers=_cache_header(answer))
    answer, deltas = await answers.ask_stream(
        principal.tenant, spec.collection, question, assistant=spec, history=history
    )
    include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        data = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return sse.frame(data)

    async def events() -> AsyncIterator[bytes]:
        yield chunk({"role": "assistant", "content": ""})
        async for delta in deltas:
            yield chunk({"content": delta})
        # the answer is complete once the deltas end, and so are its citations: they ride on the last chunk
        footer = sources_footer(answer, question)
        cited = {"citations": answer.as_dict()["citations"], "found": answer.found}
        event = openwebui_source_event(answer)
        if event is not None:
            cited["event"] = event
        yield chunk({"content": footer} if footer else {}, "stop", **cited)
        if include_usage:
            usage = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": _usage(answer),
            }
            yield sse.frame(usage)
        yield sse.DONE

    # a failure mid-answer: one error event, as a stream from the gateway sends it (guard_stream)
    return StreamingResponse(
        guard_stream(events(), scope),
        media_type=sse.MEDIA_TYPE,
        headers={**sse.HEADERS, **_cache_header(answer)},
    )


def _cache_header(answer: Answer) -> dict[str, str]:
    return {HEADER: "hit" if answer.cached else "miss"}


def _usage(answer: Answer) -> dict[str, int]:
    usage = answer.usage or {}
    prompt, completion = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
