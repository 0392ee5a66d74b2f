"""Grounded answers: question → (rewrite) → hybrid retrieval → prompt within budget → model → cited answer.

When no retrieved passage clears the relevance rule (``Retriever.is_relevant``), the model is not asked at
all: ``found`` is false, there are no citations and the answer is the fixed not-found sentence. Passages are
numbered [1]..[n] in the prompt and ``citations[n-1]`` is passage [n].

With a cache, answers that do not depend on a stored conversation come from it (:mod:`indexing.answer_cache`);
a hit still starts a new session and records its turn, as a fresh answer would.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from configs.settings import RetrievalSettings
from indexing.answer_cache import AnswerCache
from indexing.assistants import AssistantSpec, PromptLibrary
from indexing.collections import CollectionService, EmbedderMismatch
from indexing.embedding_service import EmbeddingService
from indexing.retrieval import Retriever
from indexing.sparse import SparseEncoder
from indexing.types import ScoredChunk
from indexing.vector_store import VectorStore
from inference.cache import Cache
from inference.gateway import ChatGateway
from storage.collections import CollectionRecord, CollectionRepository

MAX_ANSWER_TOKENS = 384
HISTORY_TOKENS = 600
REWRITE_TOKENS = 96
_HANGUL = re.compile(r"[\uac00-\ud7a3]")


@dataclass(frozen=True)
class Citation:
    index: int
    document_id: str
    filename: str
    page: int | None
    chunk_id: str
    score: float
    text: str


@dataclass
class Answer:
    answer: str
    found: bool
    citations: list[Citation]
    session_id: str | None
    usage: dict[str, int] = field(default_factory=dict)
    search_query: str = ""
    cached: bool = False  # served from the response cache

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("search_query")
        data.pop("cached")
        for citation in data["citations"]:
            citation.pop("index")
        return data


@dataclass
class _Prepared:
    """Everything decided before the model writes: the question, the passages and the prompt."""

    question: str
    search_query: str
    language: str
    hits: list[ScoredChunk]
    messages: list[dict[str, str]] | None  # None: nothing relevant, answer not-found without the model
    session_id: str | None
    usage: dict[str, int]


def _language_of(text: str) -> str:
    return "ko" if len(_HANGUL.findall(text)) >= max(2, len(text) // 10) else "en"


class AnswerService:
    def __init__(
        self,
        settings: RetrievalSettings,
        collections: CollectionService,
        repo: CollectionRepository,
        store: VectorStore,
        embeddings: EmbeddingService,
        sparse: SparseEncoder,
        gateway: ChatGateway,
        prompts: PromptLibrary,
        chat_model: str,
        cache: Cache | None = None,
    ) -> None:
        self._cache = AnswerCache(cache, gateway.catalog, chat_model, settings) if cache else None
        self._settings = settings
        self._collections = collections
        self._repo = repo
        self._store = store
        self._embeddings = embeddings
        self._sparse = sparse
        self._gateway = gateway
        self._prompts = prompts
        self._chat_model = chat_model
        self._retrievers: dict[str, Retriever] = {}

    def _retriever(self, embedder: str) -> Retriever:
        if embedder not in self._retrievers:
            self._retrievers[embedder] = Retriever(
                self._store, self._embeddings.get(embedder), self._sparse, self._settings
            )
        return self._retrievers[embedder]

    # -- the public entry points -----------------------------------------------------------------------------

    async def ask(
        self,
        tenant: str,
        collection: str,
        question: str,
        *,
        top_k: int | None = None,
        session_id: str | None = None,
        assistant: AssistantSpec | None = None,
        history: Sequence[tuple[str, str]] | None = None,
    ) -> Answer:
        record = await self._collections.get(tenant, collection)
        key = self._cache_key(record, question, top_k, session_id, assistant, history)
        hit = await self._from_cache(key, history)
        if hit is not None:
            await self._remember_hit(tenant, hit, question)
            return hit
        prepared = await self._prepare(
            tenant, collection, question, top_k, session_id, assistant, history, record
        )
        if prepared.messages is None:
            answer_text = self._prompts.not_found(prepared.language)
            answer = await self._finish(tenant, prepared, answer_text, found=False)
        else:
            content, usage = await self._complete(prepared.messages, MAX_ANSWER_TOKENS)
            prepared.usage = _add_usage(prepared.usage, usage)
            answer = await self._finish(tenant, prepared, content.strip(), found=True)
        await self._to_cache(key, answer)
        return answer

    async def ask_stream(
        self,
        tenant: str,
        collection: str,
        question: str,
        *,
        top_k: int | None = None,
        session_id: str | None = None,
        assistant: AssistantSpec | None = None,
        history: Sequence[tuple[str, str]] | None = None,
    ) -> tuple[Answer, AsyncIterator[str]]:
        """The citations (in the returned Answer) are known before the first token; the iterator yields
        the answer's text deltas, and the Answer's ``answer`` and ``usage`` are complete when it ends."""
        record = await self._collections.get(tenant, collection)
        key = self._cache_key(record, question, top_k, session_id, assistant, history)
        hit = await self._from_cache(key, history)
        if hit is not None:
            return hit, self._replay(tenant, hit, question)
        prepared = await self._prepare(
            tenant, collection, question, top_k, session_id, assistant, history, record
        )
        found = prepared.messages is not None
        answer = Answer(
            "",
            found,
            self._citations(prepared) if found else [],
            prepared.session_id,
            prepared.usage,
            prepared.search_query,
        )

        async def deltas() -> AsyncIterator[str]:
            if prepared.messages is None:
                text = self._prompts.not_found(prepared.language)
                answer.answer = text
                yield text
            else:
                parts: list[str] = []
                async for delta, usage in self._stream(prepared.messages, MAX_ANSWER_TOKENS):
                    if usage:
                        answer.usage = _add_usage(prepared.usage, usage)
                    if delta:
                        parts.append(delta)
                        yield delta
                answer.answer = "".join(parts).strip()
            await self._remember(tenant, prepared, answer.answer)
            await self._to_cache(key, answer)

        return answer, deltas()

    # -- the cache -------------------------------------------------------------------------------------------

    def _cache_key(
        self,
        record: CollectionRecord,
        question: str,
        top_k: int | None,
        session_id: str | None,
        assistant: AssistantSpec | None,
        history: Sequence[tuple[str, str]] | None,
    ) -> str | None:
        if self._cache is None:
            return None
        return self._cache.key(
            record, question, top_k=top_k, session_id=session_id, assistant=assistant, history=history
        )

    async def _from_cache(self, key: str | None, history: Sequence[tuple[str, str]] | None) -> Answer | None:
        entry = await self._cache.load(key) if self._cache is not None else None
        if entry is None:
            return None
        citations = [Citation(**citation) for citation in entry["citations"]]
        # like a fresh answer: a new session unless the caller passed the history itself
        session_id = uuid.uuid4().hex if history is None else None
        return Answer(
            entry["answer"],
            entry["found"],
            citations,
            session_id,
            entry["usage"],
            entry["search_query"],
            True,
        )

    async def _to_cache(self, key: str | None, answer: Answer) -> None:
        if self._cache is not None and key is not None:
            entry = asdict(answer)
            for name in ("session_id", "cached"):
                entry.pop(name)
            await self._cache.store(key, entry)

    async def _remember_hit(self, tenant: str, answer: Answer, question: str) -> None:
        if answer.session_id:
            turns = [("user", question.strip()), ("assistant", answer.answer)]
            await asyncio.to_thread(self._repo.add_turns, tenant, answer.session_id, turns)

    async def _replay(self, tenant: str, answer: Answer, question: str) -> AsyncIterator[str]:
        yield answer.answer
        await self._remember_hit(tenant, answer, question)

    # -- steps -----------------------------------------------------------------------------------------------

    async def _prepare(
        self,
        tenant: str,
        collection: str,
        question: str,
        top_k: int | None,
        session_id: str | None,
        assistant: AssistantSpec | None,
        history: Sequence[tuple[str, str]] | None,
        record: CollectionRecord | None = None,
    ) -> _Prepared:
        question = question.strip()
        record = record or await self._collections.get(tenant, collection)
        if record.embedder not in self._embeddings.names():
            raise EmbedderMismatch(
                f"the collection '{collection}' was built with the embedder '{record.embedder}', which this "
                "server does not have: configure it, or rebuild the collection"
            )
        if history is None and session_id:
            history = await asyncio.to_thread(self._repo.recent_turns, tenant, session_id)
        if session_id is None and history is None:
            session_id = uuid.uuid4().hex
        history = list(history or [])
        language = (
            assistant.answer_language
            if assistant and assistant.answer_language != "auto"
            else _language_of(question)
        )
        usage: dict[str, int] = {}
        search_query = question
        rewriting = assistant.query_rewriting if assistant else "follow_up"
        if history and rewriting in ("follow_up", "condense"):
            rewritten, used = await self._rewrite_follow_up(history, question)
            usage = _add_usage(usage, used)
            search_query = f"{rewritten}\n{question}" if rewritten and rewritten != question else question
        if rewriting == "condense":
            condensed, used = await self._condense(search_query)
            usage = _add_usage(usage, used)
            if condensed:
                search_query = f"{condensed}\n{search_query}"
        k = top_k or (assistant.top_k if assistant else None) or self._settings.top_k
        retriever = self._retriever(record.embedder)
        hits = await asyncio.to_thread(retriever.retrieve, record.store_name, search_query, k)
        relevant = [hit for hit in hits if retriever.is_relevant(hit)]
        if not relevant:
            return _Prepared(question, search_query, language, [], None, session_id, usage)
        system_prompt = assistant.system_prompt if assistant else self._default_system_prompt()
        messages, used_hits = self._fill_prompt(
            system_prompt,
            relevant,
            question,
            language,
            history,
            assistant.prompt_version if assistant else "v1",
        )
        return _Prepared(question, search_query, language, used_hits, messages, session_id, usage)

    def _default_system_prompt(self) -> str:
        from indexing.assistants import DEFAULT_SYSTEM_PROMPT

        return DEFAULT_SYSTEM_PROMPT

    def _fill_prompt(
        self,
        system_prompt: str,
        hits: list[ScoredChunk],
        question: str,
        language: str,
        history: Sequence[tuple[str, str]],
        version: str,
    ) -> tuple[list[dict[str, str]], list[ScoredChunk]]:
        """Fill the answer template with as many passages (best first) as the model's context allows."""
        template = self._prompts.get("rag_answer", version)
        instruction = "한국어로 답하세요." if language == "ko" else "Answer in English."
        not_found = self._prompts.not_found(language)
        group = self._gateway.catalog.resolve(self._chat_model)

        def render(passages: str) -> str:
            return template.format(
                system_prompt=system_prompt,
                passages=passages,
                question=question,
                answer_language_instruction=instruction,
                not_found=not_found,
            )

        budget = (
            self._gateway.catalog.context_window(group)
            - MAX_ANSWER_TOKENS
            - self._gateway.count_tokens(group, render(""))
            - 48
        )
        blocks: list[str] = []
        used: list[ScoredChunk] = []
        for hit in hits:
            chunk = hit.chunk
            where = f"{chunk.filename}" + (f", p.{chunk.page}" if chunk.page else "")
            block = f"[{len(blocks) + 1}] ({where}) {chunk.text.strip()}"
            cost = self._gateway.count_tokens(group, block) + 2
            if cost > budget:
                if not blocks and budget > 64:  # the best passage alone is too long: keep what fits
                    keep = max(64, int(len(block) * budget / cost) - 8)
                    blocks.append(block[:keep])
                    used.append(hit)
                break
            blocks.append(block)
            used.append(hit)
            budget -= cost
        return [{"role": "user", "content": render("\n\n".join(blocks))}], used

    async def _rewrite_follow_up(
        self, history: Sequence[tuple[str, str]], question: str
    ) -> tuple[str, dict[str, int]]:
        group = self._gateway.catalog.resolve(self._chat_model)
        lines: list[str] = []
        budget = HISTORY_TOKENS
        for role, content in reversed(history):
            line = f"{role}: {content.strip()}"
            budget -= self._gateway.count_tokens(group, line)
            if budget < 0:
                break
            lines.insert(0, line)
        prompt = self._prompts.get("rewrite_followup").format(history="\n".join(lines), question=question)
        text, usage = await self._complete([{"role": "user", "content": prompt}], REWRITE_TOKENS)
        return _first_line(text), usage

    async def _condense(self, question: str) -> tuple[str, dict[str, int]]:
        prompt = self._prompts.get("condense_ko").format(question=question)
        text, usage = await self._complete([{"role": "user", "content": prompt}], REWRITE_TOKENS)
        return _first_line(text), usage

    async def _complete(self, messages: list[dict[str, str]], max_tokens: int) -> tuple[str, dict[str, int]]:
        payload = {
            "model": self._chat_model,
            "messages": messages,
            "temperature": 0,
            "max_tokens": max_tokens,
        }
        result = await self._gateway.complete(self._gateway.prepare(payload))
        return result.text, result.usage

    async def _stream(
        self, messages: list[dict[str, str]], max_tokens: int
    ) -> AsyncIterator[tuple[str, dict[str, int]]]:
        payload = {
            "model": self._chat_model,
            "messages": messages,
            "temperature": 0,
            "max_tokens": max_tokens,
            "stream": True,
        }
        events, stats = await self._gateway.open_stream(self._gateway.prepare(payload))
        async for event in events:
            data = event.removeprefix(b"data: ").strip()
            if not data or data == b"[DONE]":
                continue
            chunk = orjson.loads(data)
            if "error" in chunk:
                raise RuntimeError(chunk["error"].get("message", "the model failed mid-answer"))
            for choice in chunk.get("choices") or ():
                text = (choice.get("delta") or {}).get("content")
                if text:
                    yield text, {}
        yield "", stats.usage

    def _citations(self, prepared: _Prepared) -> list[Citation]:
        return [
            Citation(
                index=i + 1,
                document_id=hit.chunk.document_id,
                filename=hit.chunk.filename,
                page=hit.chunk.page,
                chunk_id=hit.chunk.id,
                score=round(float(hit.score), 6),
                text=hit.chunk.text,
            )
            for i, hit in enumerate(prepared.hits)
        ]

    async def _finish(self, tenant: str, prepared: _Prepared, text: str, *, found: bool) -> Answer:
        answer = Answer(
            text,
            found,
            self._citations(prepared) if found else [],
            prepared.session_id,
            prepared.usage,
            prepared.search_query,
        )
        await self._remember(tenant, prepared, text)
        return answer

    async def _remember(self, tenant: str, prepared: _Prepared, text: str) -> None:
        if prepared.session_id:
            await asyncio.to_thread(
                self._repo.add_turns,
                tenant,
                prepared.session_id,
                [("user", prepared.question), ("assistant", text)],
            )


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        line = line.strip().strip('"').strip()
        line = re.sub(r"^(질문 요약|standalone question|question)\s*[:：]\s*", "", line, flags=re.I)
        if line:
            return line[:500]
    return ""


def _add_usage(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    keys = ("prompt_tokens", "completion_tokens", "total_tokens")
    return {k: int(a.get(k, 0)) + int(b.get(k, 0)) for k in keys}
