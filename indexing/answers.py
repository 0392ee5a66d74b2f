"""Grounded answers: question → (rewrite) → hybrid retrieval → relevance and coverage rule → evidence
sentences (:mod:`indexing.evidence`) → prompt within budget → model through the answer gate
(:mod:`indexing.grounding`) → cited answer.

When no retrieved passage clears the relevance rule (``Retriever.is_relevant``, and the coverage check of the
question's topic words), the model is not asked at all: ``found`` is false, there are no citations and the
answer is the fixed not-found sentence. The gate renumbers the answer's markers so that ``[k]`` is
``citations[k-1]`` and the citations are exactly the passages the answer used.

With a cache, answers that do not depend on a stored conversation come from it (:mod:`indexing.answer_cache`);
a hit still starts a new session and records its turn, as a fresh answer would.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from configs.settings import RetrievalSettings
from indexing.answer_cache import AnswerCache
from indexing.assistants import AssistantSpec, PromptLibrary
from indexing.collections import CollectionService, EmbedderMismatch
from indexing.embedding_service import EmbeddingService
from indexing.evidence import Evidence, EvidenceSelector
from indexing.grounding import MAX_SENTENCES, WRONG_CONDITION, AnswerGate, quote_for
from indexing.numbers import asked_value, asks_explanation, states_figure, with_english_amounts
from indexing.retrieval import Retriever
from indexing.sparse import SparseEncoder
from indexing.types import ScoredChunk
from indexing.vector_store import VectorStore
from inference import sse
from inference.cache import Cache
from inference.gateway import ChatGateway
from inference.language import detect_language, has_hangul
from storage.collections import CollectionRecord, CollectionRepository

log = logging.getLogger("hearth.answers")

HISTORY_TOKENS = 600
QUOTABLE_COVERAGE = 0.8
REWRITE_TOKENS = 96
# the model's own scaffolding, should it start writing it: nothing after these belongs to the answer
STOP = ["\nQuestion:", "\n질문:", "\nRules:", "\nPassages:"]  # OpenAI (and vLLM) take at most 4


@dataclass(frozen=True)
class Citation:
    index: int
    document_id: str
    filename: str
    page: int | None
    chunk_id: str
    score: float
    text: str  # the whole chunk
    section: str | None = None  # the chunk's heading path, where the document has headings
    quote: str = ""  # the sentence of the chunk that bears most on the question


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
    hits: list[Evidence]  # the passages of the prompt, [1]..[n]
    messages: list[dict[str, str]] | None  # None: nothing relevant, answer not-found without the model
    session_id: str | None
    usage: dict[str, int]
    cited: list[Evidence] = field(default_factory=list)  # the passages the answer uses, in marker order
    found: bool = True
    cross_lingual: bool = False  # the question's language is not the documents'
    explanation: bool = False  # it asks to explain or compare: a longer answer (numbers.asks_explanation)


def _language_of(text: str) -> str:
    """The answer's language: Korean or English (a question in another script is answered in English)."""
    return "ko" if detect_language(text) == "ko" else "en"


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
        self._selector = EvidenceSelector(
            sparse, max_passages=settings.evidence_passages, max_units=settings.evidence_units
        )

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
            text = "".join([piece async for piece in self._write(prepared)]).strip()
            answer = await self._finish(tenant, prepared, text, found=prepared.found)
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
        """The iterator yields the answer's checked text deltas; the returned Answer's ``answer``,
        ``citations`` (the passages the answer used) and ``usage`` are complete when it ends."""
        record = await self._collections.get(tenant, collection)
        key = self._cache_key(record, question, top_k, session_id, assistant, history)
        hit = await self._from_cache(key, history)
        if hit is not None:
            return hit, self._replay(tenant, hit, question)
        prepared = await self._prepare(
            tenant, collection, question, top_k, session_id, assistant, history, record
        )
        answer = Answer(
            "", prepared.messages is not None, [], prepared.session_id, prepared.usage, prepared.search_query
        )

        async def deltas() -> AsyncIterator[str]:
            if prepared.messages is None:
                text = self._prompts.not_found(prepared.language)
                answer.answer = text
                yield text
            else:
                parts: list[str] = []
                async for piece in self._write(prepared):
                    parts.append(piece)
                    yield piece
                answer.answer = "".join(parts).strip()
                answer.found = prepared.found
                answer.citations = self._citations(prepared, answer.answer) if prepared.found else []
                answer.usage = prepared.usage
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
        topic = question  # what the passages must be about: the question, or its translation
        rewriting = assistant.query_rewriting if assistant else "follow_up"
        if history and rewriting in ("follow_up", "condense"):
            rewritten, used = await self._rewrite_follow_up(history, question)
            usage = _add_usage(usage, used)
            if rewritten and rewritten != question:
                search_query = f"{rewritten}\n{question}"
                topic = rewritten
        if rewriting == "condense":
            condensed, used = await self._condense(search_query)
            usage = _add_usage(usage, used)
            if condensed:
                search_query = f"{condensed}\n{search_query}"
        k = top_k or (assistant.top_k if assistant else None) or self._settings.top_k
        retriever = self._retriever(record.embedder)
        hits = await asyncio.to_thread(retriever.retrieve, record.store_name, search_query, k)
        queries = [topic]
        documents_language = _majority_language(hits)
        cross_lingual = documents_language in ("ko", "en") and _language_of(topic) != documents_language
        settings = self._settings
        if cross_lingual and settings.translate_queries:
            translated, used = await self._translate(topic, documents_language)
            usage = _add_usage(usage, used)
            if translated:
                queries.insert(0, translated)
                topic = translated
                search_query = f"{translated}\n{search_query}"
                hits = await asyncio.to_thread(retriever.retrieve, record.store_name, search_query, k)
                cross_lingual = False
        if cross_lingual:
            # no shared words: the sparse side matches only digits and Latin tokens ("50 million won" found
            # the glasses FAQ's "50만원" before the rent passages); the embedder ranks alone, a little deeper
            # (its cross-lingual cosines are close together)
            hits = await asyncio.to_thread(
                retriever.retrieve,
                record.store_name,
                search_query,
                max(k, settings.cross_lingual_top_k),
                dense_only=True,
            )
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "hits for %r: %s",
                search_query,
                [(hit.chunk.heading, round(hit.score, 3), hit.dense_score, hit.sparse_score) for hit in hits],
            )
        if cross_lingual:
            # no shared words: the multilingual embedder decides alone, on its cross-lingual scale
            relevant = [
                hit for hit in hits if retriever.is_relevant(hit, settings.cross_lingual_dense_margin)
            ]
        else:
            margin = settings.coverage_dense_margin if settings.coverage_check else 0.0
            relevant = [hit for hit in hits if retriever.is_relevant(hit, margin)]
            if relevant and settings.coverage_check:
                wanted, missing = await asyncio.to_thread(self._uncovered, topic, relevant)
                if wanted and len(missing) / len(wanted) >= settings.max_missing_share:
                    log.info("refused: the passages lack %s of %s", sorted(missing), sorted(wanted))
                    relevant = []
        if not relevant:
            return _Prepared(question, search_query, language, [], None, session_id, usage)
        embedder = self._embeddings.get(record.embedder)
        started = time.perf_counter()
        explanation = asks_explanation(question)
        units = settings.explanation_units if explanation else settings.evidence_units
        evidence = await asyncio.to_thread(
            self._selector.select, queries, relevant, embedder, max_units=units
        )
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "evidence in %.2fs: %s",
                time.perf_counter() - started,
                [(passage.heading, passage.units, passage.focus) for passage in evidence],
            )
        system_prompt = assistant.system_prompt if assistant else self._default_system_prompt()
        messages, passages = self._fill_prompt(
            system_prompt,
            evidence,
            question,
            language,
            history,
            assistant.prompt_version if assistant else self._settings.prompt_version,
            explanation=explanation,
        )
        prepared = _Prepared(question, search_query, language, passages, messages, session_id, usage)
        prepared.cross_lingual = cross_lingual
        prepared.explanation = explanation
        return prepared

    def _uncovered(self, topic: str, hits: Sequence[ScoredChunk]) -> tuple[set[str], set[str]]:
        """The question's topic words, and those that none of the relevant passages holds."""
        wanted = self._sparse.content_terms(topic)
        held: set[str] = set()
        for hit in hits:
            held.update(self._sparse.terms(hit.chunk.text))
        return wanted, wanted - held

    def _default_system_prompt(self) -> str:
        from indexing.assistants import DEFAULT_SYSTEM_PROMPT

        return DEFAULT_SYSTEM_PROMPT

    def _fill_prompt(
        self,
        system_prompt: str,
        evidence: list[Evidence],
        question: str,
        language: str,
        history: Sequence[tuple[str, str]],
        version: str,
        *,
        explanation: bool = False,
    ) -> tuple[list[dict[str, str]], list[Evidence]]:
        """The answer prompt with as many evidence passages (best first) as the model's context allows.

        Versions with a ``rag_system.<version>.txt`` template use chat roles: the rules in the system message,
        the passages and then the question in the user message. Others fill ``rag_answer.<version>.txt``
        as one user message."""
        instruction = "한국어로 답하세요." if language == "ko" else "Answer in English."
        not_found = self._prompts.not_found(language)
        length = (
            "Answer every part of the question in three to six sentences."
            if explanation
            else "Answer the question directly in one to three short sentences."
        )
        fields = {
            "answer_length": length,
            "system_prompt": system_prompt,
            "question": question,
            "answer_language_instruction": instruction,
            "not_found": not_found,
        }
        if self._prompts.has("rag_system", version):
            system = self._prompts.get("rag_system", version).format(**fields).strip()
            user = self._prompts.get("rag_user", version)

            def render(passages: str) -> list[dict[str, str]]:
                return [
                    {"role": "system", "content": system},
                    {"role": "user", "content": user.format(passages=passages, **fields).strip()},
                ]
        else:
            template = self._prompts.get("rag_answer", version)

            def render(passages: str) -> list[dict[str, str]]:
                return [{"role": "user", "content": template.format(passages=passages, **fields)}]

        group = self._gateway.catalog.resolve(self._chat_model)

        def cost(messages: list[dict[str, str]]) -> int:
            return sum(self._gateway.count_tokens(group, m["content"]) for m in messages)

        budget = self._gateway.catalog.context_window(group) - self._max_tokens(explanation) - 64
        budget -= cost(render(""))
        blocks: list[str] = []
        used: list[Evidence] = []
        for passage in evidence:
            block = _passage_block(len(blocks) + 1, passage, language)
            size = self._gateway.count_tokens(group, block) + 2
            if size > budget:
                break
            blocks.append(block)
            used.append(passage)
            budget -= size
        if not blocks and evidence:  # the best passage alone is too long: keep what fits
            block = _passage_block(1, evidence[0], language)
            keep = max(64, int(len(block) * budget / max(1, self._gateway.count_tokens(group, block))) - 8)
            blocks, used = [block[:keep]], [evidence[0]]
        if self._settings.best_evidence_last:
            # the small models copy from the passage nearest the question: the best one goes there ([1] still
            # names it, and the passages keep their order for the gate and the quote)
            blocks.reverse()
        return render("\n\n".join(blocks)), used

    async def _translate(self, question: str, language: str) -> tuple[str, dict[str, int]]:
        prompt = self._prompts.get("translate_query").format(
            language="Korean" if language == "ko" else "English", question=question
        )
        text, usage = await self._complete([{"role": "user", "content": prompt}], REWRITE_TOKENS)
        return _first_line(text), usage

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
    ) -> AsyncGenerator[tuple[str, dict[str, int]], None]:
        payload = {
            "model": self._chat_model,
            "messages": messages,
            "temperature": 0,
            "max_tokens": max_tokens,
            "stream": True,
            "stop": STOP,
        }
        events, stats = await self._gateway.open_stream(self._gateway.prepare(payload))
        async for chunk in sse.iter_events(events):  # an error event raises UpstreamStreamError
            for choice in chunk.get("choices") or ():
                text = (choice.get("delta") or {}).get("content")
                if text:
                    yield text, {}
        yield "", stats.usage

    # -- writing the answer ----------------------------------------------------------------------------------

    async def _write(self, prepared: _Prepared) -> AsyncIterator[str]:
        """The checked answer text as it is written (see :mod:`indexing.grounding`); sets the citations.

        The model writes through an :class:`AnswerGate`. When the gate rejects the first sentence (a figure
        no cited passage holds, scaffolding), the model gets one more try with a reminder; when the model says
        the passages do not answer, or the retry fails too, the answer quotes the best evidence sentence if
        that plainly answers the question, and refuses (``found`` false) otherwise. With
        ``unsupported_fallback: refuse`` it always refuses."""
        assert prepared.messages is not None
        messages = prepared.messages
        row: tuple[int, str] | None = None
        sentences = self._settings.explanation_sentences if prepared.explanation else MAX_SENTENCES
        for attempt in range(2):
            gate = AnswerGate(prepared.hits, prepared.question, sentences, prepared.language)
            stream = self._stream(messages, self._max_tokens(prepared.explanation))
            try:
                async for delta, usage in stream:
                    if usage:
                        prepared.usage = _add_usage(prepared.usage, usage)
                    text = gate.feed(delta)
                    if text:
                        yield text
                    if gate.stopped:
                        break
            finally:
                await stream.aclose()
            tail = gate.close()
            if tail:
                yield tail
            log.debug("attempt %d: the model wrote %r", attempt + 1, gate.raw)
            if not gate.empty:
                prepared.cited = [prepared.hits[i] for i in gate.order]
                return
            log.info("answer attempt %d rejected: %s", attempt + 1, gate.failed or "empty")
            log.debug("rejected sentence: %r", gate.rejected)
            row = gate.row or row
            if gate.failed == "declined":
                break
            if attempt == 0:
                messages = _retry_messages(messages, prepared.language, gate.failed or "")
        if row is not None and self._settings.unsupported_fallback != "refuse":
            # the model took a figure from another row of a passage: quote the row for the question's figures
            prepared.cited = [prepared.hits[row[0]]]
            yield _quote(row[1], prepared.language)
            return
        # no checked answer: quote the best evidence sentence where it plainly answers (it holds most of the
        # question's words, QUOTABLE_COVERAGE; or the question is in another language, where the bundled
        # models miss answers that are there and the relevance rule accepted the evidence) and states the
        # kind of figure asked for; else refuse
        best_coverage = prepared.hits[0].coverage if prepared.hits else 0.0
        asked = asked_value(prepared.question)
        # across languages no shared word shows that the sentence is about the question: only a question
        # that asks for a figure is quoted, and only with a sentence that states one ("What is the
        # inheritance tax exemption for a spouse?" had quoted a sentence on who claims the children)
        quotable = prepared.hits and (
            (prepared.cross_lingual and asked is not None) or best_coverage >= QUOTABLE_COVERAGE
        )
        # a question that asks for a figure is not answered by a sentence without one ("What tax credit
        # rate ...?" once quoted "근거는 「소득세법」 제50조 ...")
        if quotable and asked and not states_figure(asked, prepared.hits[0].quote):
            quotable = False
        if not quotable or self._settings.unsupported_fallback == "refuse":
            prepared.found = False
            prepared.cited = []
            yield self._prompts.not_found(prepared.language)
            return
        best = prepared.hits[0]
        prepared.cited = [best]
        yield _quote(best.quote, prepared.language)

    def _max_tokens(self, explanation: bool) -> int:
        settings = self._settings
        return settings.explanation_max_tokens if explanation else settings.answer_max_tokens

    def _citations(self, prepared: _Prepared, text: str) -> list[Citation]:
        """The passages the answer used; each quotes its sentence that states the answer's figures (its
        best-matching sentence when it states none of them)."""
        return [
            Citation(
                index=i + 1,
                document_id=passage.hit.chunk.document_id,
                filename=passage.hit.chunk.filename,
                page=passage.hit.chunk.page,
                chunk_id=passage.hit.chunk.id,
                score=round(float(passage.hit.score), 6),
                text=passage.hit.chunk.text,
                section=passage.heading,
                quote=quote_for(passage, text),
            )
            for i, passage in enumerate(prepared.cited)
        ]

    async def _finish(self, tenant: str, prepared: _Prepared, text: str, *, found: bool) -> Answer:
        answer = Answer(
            text,
            found,
            self._citations(prepared, text) if found else [],
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


def _passage_block(number: int, passage: Evidence, language: str) -> str:
    """One passage of the prompt; for an English answer from a Korean passage its amounts also in plain won
    ("50만원 (= 500,000 won)"), which the small models otherwise convert wrongly."""
    heading = f" {_short_heading(passage.heading)}" if passage.heading else ""
    text = passage.text
    if language != "ko" and has_hangul(text):
        text = with_english_amounts(text)
    return f"[{number}]{heading}\n{text}"


def _short_heading(heading: str) -> str:
    """The last two levels of a heading path: the document's title, repeated over every passage, costs prompt
    time and tells the model nothing about the passage."""
    parts = [part.strip() for part in heading.split(" > ")]
    return " > ".join(parts[-2:])


def _retry_messages(messages: list[dict[str, str]], language: str, failed: str) -> list[dict[str, str]]:
    """The answer prompt again with a reminder; after a figure from a line whose condition the question's
    figures fail, the reminder names that mistake."""
    wrong_condition = failed.startswith(WRONG_CONDITION)
    if language == "ko":
        note = "위 문단에 적힌 숫자만 그대로 쓰고, 근거 문단 번호를 [1]처럼 붙여 한두 문장으로 답하세요."
        if wrong_condition:
            note = "질문에 나온 금액이나 나이에 해당하는 조건의 숫자를 쓰세요. " + note
    else:
        note = (
            "Use only figures written in the passages above, exactly as written, and cite each passage you "
            "use, like [1]."
        )
        if wrong_condition:
            note = "Use the figure whose condition fits the amounts or ages in the question. " + note
    last = dict(messages[-1])
    last["content"] = f"{last['content']}\n\n({note})"
    return [*messages[:-1], last]


def _quote(sentence: str, language: str) -> str:
    sentence = sentence.strip().lstrip("-*•· ").replace("**", "")
    if language == "ko":
        return f"문서에는 다음과 같이 나와 있습니다: “{sentence}” [1]"
    return f"The document says: “{sentence}” [1]"


def _majority_language(hits: Sequence[ScoredChunk]) -> str:
    counts: dict[str, int] = {}
    for hit in hits:
        counts[hit.chunk.language] = counts.get(hit.chunk.language, 0) + 1
    return max(counts, key=lambda name: counts[name]) if counts else "und"


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
