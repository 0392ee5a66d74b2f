"""The model side of a summary: one call for a short document, map-reduce for a long one.

    one chunk, no headings:       summary_document ──────────────────────────────────────────► final JSON
    short, with headings:         summary_document_sections (each section, then the whole) ──► final JSON
    otherwise, per group:  consecutive short sections ─ summary_map_sections (one summary each)
                           a long section ─ summary_map per chunk ─ merge its chunk notes
                           ─ fit ─ summary_reduce ───────────────────────────────────────────► final JSON

``fit`` merges consecutive notes in groups (the map prompt over notes) until all of them fit one call, so
the reduce step never overflows whatever the page count. Every call asks for JSON through
``response_format`` json_schema; the reply is repaired (``summary_schema.parse_reply``) or the call retried
(``max_attempts``, warmer each time), never passed on malformed. A map step without any usable reply falls
back to its part's opening words (logged); the final step raises SummaryFailed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from configs.settings import SummarySettings
from indexing.assistants import PromptLibrary
from indexing.errors import InvalidSummaryOptions, SummaryFailed
from indexing.mapreduce import Chunk, Section, pack, page_label
from indexing.summary_schema import (
    MAP_KEY_POINTS,
    MAX_KEY_POINTS,
    Notes,
    SummaryUsage,
    notes_schema,
    parse_reply,
    parse_sections_reply,
    section_keys,
    sections_schema,
    truncate_words,
)
from inference.catalog import ModelCatalog
from inference.gateway import ChatRequest, ChatResult
from inference.language import has_hangul

log = logging.getLogger("hearth.summaries")

PROMPT_VERSION = "v2"
LANGUAGES = {
    "ko": "Korean (요약과 핵심 내용은 반드시 한국어로 작성하세요)",
    "en": "English",
    "ja": "Japanese",
    "zh": "Chinese",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
}
MAP_WORDS = (30, 100)  # a part's notes: at least, at most
SECTION_WORDS = 40  # one section's summary in a sections call: one or two sentences
MAX_GROUP_SECTIONS = 12  # sections one call summarises one by one
MARGIN_TOKENS = 64  # chat template and the rounding of counts
TOKENS_PER_WORD = 3  # generous: a Korean word takes 2-3 tokens
Counter = Callable[[str], int]
Reply = TypeVar("Reply")
Progress = Callable[[float], None]


class SummaryGateway(Protocol):
    """What summaries need of inference.gateway.ChatGateway (unit tests pass a small fake)."""

    catalog: ModelCatalog

    def prepare(self, payload: dict[str, Any]) -> ChatRequest: ...

    def count_tokens(self, group: str, text: str) -> int: ...

    async def complete(self, request: ChatRequest) -> ChatResult: ...


@dataclass
class SectionNote:
    heading: str
    first_page: int
    last_page: int
    notes: Notes

    def render(self) -> str:
        points = "".join(f"\n- {point}" for point in self.notes.key_points)
        return (
            f"## {self.heading} ({page_label(self.first_page, self.last_page)})\n{self.notes.summary}{points}"
        )


@dataclass
class SummaryRun:
    """One summary being written: its options, budget, and what the model calls cost so far."""

    document: str
    pages: int
    language: str
    max_words: int
    budget: int  # tokens of document text (or notes) one call may carry
    map_words: int = MAP_WORDS[1]
    usage: SummaryUsage = field(default_factory=SummaryUsage)
    model: str = ""
    calls_done: int = 0
    calls_planned: int = 1
    progress: Progress | None = None
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))

    def plan(self, sections: list[Section], parallel: int) -> None:
        chunks = sum(len(section.chunks) for section in sections)
        # the notes of every chunk should fit one reduce call (about 2.5 tokens a word, key points aside),
        # and need not be much longer than the summary asked for
        fitting = self.budget * 2 // 5 // max(chunks, 1)
        self.map_words = max(MAP_WORDS[0], min(MAP_WORDS[1], fitting, 2 * self.max_words))
        self.slots = asyncio.Semaphore(parallel)

    def step(self) -> None:
        self.calls_done += 1
        if self.progress is not None:
            self.progress(min(0.99, 0.05 + 0.9 * self.calls_done / max(self.calls_planned, 1)))


class SummaryWriter:
    def __init__(
        self, settings: SummarySettings, gateway: SummaryGateway, prompts: PromptLibrary, chat_model: str
    ) -> None:
        self._settings = settings
        self._gateway = gateway
        self._prompts = prompts
        self._chat_model = chat_model

    def budget(self, group: str, words: int) -> int:
        """Tokens of text one call may carry: the context less the prompt, the reply and a margin, and no
        more than ``chunk_context_share`` of the context."""
        window = self._gateway.catalog.context_window(group)
        template = max(
            self._gateway.count_tokens(group, self._prompts.get(name, PROMPT_VERSION))
            for name in ("summary_map", "summary_reduce", "summary_document")
        )
        reply = max(self._final_tokens(words), self._settings.max_output_tokens // 2)
        share = int(window * self._settings.chunk_context_share)
        budget = min(share, window - reply - template - MARGIN_TOKENS)
        if budget < 128:
            raise InvalidSummaryOptions(
                f"the model's context ({window} tokens) leaves no room for document text after a "
                f"{reply}-token reply: use a model with a larger context or lower max_words",
                param="max_words",
            )
        return budget

    def parallel(self, group: str) -> int:
        """One request at a time for the embedded engine (it serves one anyway); a few for servers."""
        return 1 if all(d.embedded for d in self._gateway.catalog.deployments_of(group)) else 4

    async def write(
        self, run: SummaryRun, sections: list[Section], count: Counter
    ) -> tuple[Notes, list[SectionNote]]:
        """The final notes (title, summary, key points) and one note per section."""
        groups = self._groups(run, sections, count)
        one_call = len(groups) == 1 and len(sections[groups[0][0]].chunks) == 1
        run.calls_planned = 1 if one_call else 1 + sum(_calls(sections, group) for group in groups)
        if len(groups) == 1 and len(sections) == 1 and len(sections[0].chunks) == 1:
            section = sections[0]
            final = await self._document(run, section.chunks[0])
            return final, [SectionNote(section.heading, section.first_page, section.last_page, final)]
        if len(groups) == 1 and len(groups[0]) > 1:  # a short document with headings: one call
            final, notes = await self._sections(run, sections, final=True)
            return final, notes
        mapped = await asyncio.gather(
            *(self._map_group(run, [sections[i] for i in g], count) for g in groups)
        )
        notes = [note for group in mapped for note in group]
        fitted = await self._fit(run, notes, count)
        prompt = self._prompts.get("summary_reduce", PROMPT_VERSION).format(
            document=run.document,
            pages=run.pages,
            notes="\n\n".join(note.render() for note in fitted),
            words=run.max_words,
            key_points=MAX_KEY_POINTS,
            language_instruction=_instruction(run.language),
        )
        return await self._ask(run, prompt, final=True), notes

    def _groups(self, run: SummaryRun, sections: list[Section], count: Counter) -> list[list[int]]:
        """Consecutive short sections (one chunk each) that one call can read and summarise one by one, at
        most ``MAX_GROUP_SECTIONS`` and ``run.budget`` tokens of text and replies; a long section alone."""
        groups: list[list[int]] = []
        used, open_group = 0, False
        for i, section in enumerate(sections):
            if len(section.chunks) != 1:
                groups.append([i])
                open_group = False
                continue
            cost = count(section.chunks[0].text) + SECTION_WORDS * TOKENS_PER_WORD
            if open_group and len(groups[-1]) < MAX_GROUP_SECTIONS and used + cost <= run.budget:
                groups[-1].append(i)
                used += cost
            else:
                groups.append([i])
                used, open_group = cost, True
        return groups

    async def _map_group(self, run: SummaryRun, group: list[Section], count: Counter) -> list[SectionNote]:
        if len(group) == 1:
            return [await self._map_section(run, group[0], count)]
        return (await self._sections(run, group, final=False))[1]

    async def _sections(
        self, run: SummaryRun, sections: list[Section], *, final: bool
    ) -> tuple[Notes, list[SectionNote]]:
        """One call over several short sections: a summary of each (and, when ``final``, of the whole)."""
        keys = section_keys([section.heading for section in sections])
        texts = [_body(section.heading, section.chunks[0].text) for section in sections]
        blocks = "\n\n".join(f"### {key}\n{text}" for key, text in zip(keys, texts, strict=True))
        key_points = MAX_KEY_POINTS if final else MAP_KEY_POINTS
        name = "summary_document_sections" if final else "summary_map_sections"
        prompt = self._prompts.get(name, PROMPT_VERSION).format(
            document=run.document,
            pages=run.pages,
            sections=blocks,
            section_words=SECTION_WORDS,
            words=run.max_words,
            key_points=key_points,
            language_instruction=_instruction(run.language),
        )
        schema = sections_schema(keys, final=final, key_points=key_points)
        max_tokens = len(keys) * SECTION_WORDS * TOKENS_PER_WORD + key_points * 40 + 40
        if final:
            max_tokens += self._final_tokens(run.max_words)

        def parse(text: str) -> tuple[Notes, list[str]] | None:
            return parse_sections_reply(text, keys, final=final, key_points=key_points)

        def language(reply: tuple[Notes, list[str]]) -> str:
            return " ".join([reply[0].summary, *reply[1]])

        reply = await self._call(run, prompt, schema, max_tokens, parse, language)
        if reply is None:
            if final:
                raise self._failed(run)
            log.warning(
                "a summary step of %s: no usable reply; using the sections' opening words", run.document
            )
            reply = Notes(summary=""), ["" for _ in keys]
        notes, summaries = reply
        out = []
        for i, (section, summary) in enumerate(zip(sections, summaries, strict=True)):
            written = summary or opening_words(section.heading, section.chunks[0].text)
            points = notes.key_points if i == 0 and not final else []
            out.append(
                SectionNote(
                    section.heading,
                    section.first_page,
                    section.last_page,
                    Notes(summary=written, key_points=points),
                )
            )
        return notes, out

    # -- steps -----------------------------------------------------------------------------------------------

    def _final_tokens(self, words: int) -> int:
        return min(self._settings.max_output_tokens, words * TOKENS_PER_WORD + MAX_KEY_POINTS * 40 + 80)

    async def _document(self, run: SummaryRun, chunk: Chunk) -> Notes:
        prompt = self._prompts.get("summary_document", PROMPT_VERSION).format(
            document=run.document,
            pages=run.pages,
            text=chunk.text,
            words=run.max_words,
            key_points=MAX_KEY_POINTS,
            language_instruction=_instruction(run.language),
        )
        return await self._ask(run, prompt, final=True)

    async def _map_section(self, run: SummaryRun, section: Section, count: Counter) -> SectionNote:
        async def map_chunk(chunk: Chunk) -> SectionNote:
            notes = await self._combine(run, section.heading, chunk.text, fallback=chunk.text)
            return SectionNote(section.heading, chunk.first_page, chunk.last_page, notes)

        parts = await self._fit(run, list(await asyncio.gather(*map(map_chunk, section.chunks))), count)
        if len(parts) == 1:
            notes = parts[0].notes
        else:  # a long section: one note from its parts' notes
            notes = await self._combine(run, section.heading, "\n\n".join(p.render() for p in parts))
        return SectionNote(section.heading, section.first_page, section.last_page, notes)

    async def _fit(self, run: SummaryRun, parts: list[SectionNote], count: Counter) -> list[SectionNote]:
        """Merge consecutive notes in groups, again and again, until all of them fit one call's budget."""
        while True:
            groups = pack([part.render() for part in parts], run.budget, count)
            if len(groups) == 1:
                return parts
            if len(groups) == len(parts):  # no two fit together: shorten them, then try again
                parts = [_shortened(part) for part in parts]
                continue
            merged: list[SectionNote] = []
            for group in groups:
                members = [parts[i] for i in group]
                first, last = members[0].first_page, members[-1].last_page
                if len(members) == 1:
                    merged.append(members[0])
                    continue
                label = page_label(first, last)
                text = "\n\n".join(member.render() for member in members)
                merged.append(SectionNote(label, first, last, await self._combine(run, label, text)))
            parts = merged

    async def _combine(
        self, run: SummaryRun, heading: str, text: str, *, fallback: str | None = None
    ) -> Notes:
        prompt = self._prompts.get("summary_map", PROMPT_VERSION).format(
            document=run.document,
            heading=heading,
            text=text,
            words=run.map_words,
            key_points=MAP_KEY_POINTS,
            language_instruction=_instruction(run.language),
        )
        return await self._ask(run, prompt, final=False, fallback=fallback)

    async def _ask(self, run: SummaryRun, prompt: str, *, final: bool, fallback: str | None = None) -> Notes:
        """One model call with JSON notes (see the module docstring)."""
        key_points = MAX_KEY_POINTS if final else MAP_KEY_POINTS
        schema = notes_schema(with_title=final, key_points=key_points)
        map_tokens = run.map_words * TOKENS_PER_WORD + key_points * 40 + 40
        max_tokens = (
            self._final_tokens(run.max_words) if final else min(self._settings.max_output_tokens, map_tokens)
        )

        def parse(text: str) -> Notes | None:
            return parse_reply(text, key_points=key_points)

        def language(notes: Notes) -> str:
            return notes.summary

        notes = await self._call(run, prompt, schema, max_tokens, parse, language)
        if notes is not None:
            return notes
        if fallback is not None:
            log.warning("a summary step of %s: no usable reply; using the part's opening words", run.document)
            return Notes(summary=truncate_words(fallback, run.map_words))
        raise self._failed(run)

    async def _call(
        self,
        run: SummaryRun,
        prompt: str,
        schema: dict[str, Any],
        max_tokens: int,
        parse: Callable[[str], Reply | None],
        language: Callable[[Reply], str],
    ) -> Reply | None:
        """One model call with JSON output, repaired (``parse``) or retried until usable, warmer each time;
        a reply in another language than the run's is retried too (the best so far is kept)."""
        best: Reply | None = None
        for attempt in range(max(1, self._settings.max_attempts)):
            payload = {
                "model": self._chat_model,
                "messages": [{"role": "user", "content": prompt}],
                # greedy first; a retry of the same prompt needs some randomness to come out differently
                "temperature": 0 if attempt == 0 else 0.6,
                "max_tokens": max_tokens,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "summary", "schema": schema},
                },
            }
            async with run.slots:
                result = await self._gateway.complete(self._gateway.prepare(payload))
            run.usage.add(result.usage)
            run.model = result.model
            reply = parse(result.text)
            if reply is None:
                log.warning("a summary step of %s: unusable reply (attempt %d)", run.document, attempt + 1)
                continue
            best = best or reply
            if run.language == "ko" and not has_hangul(language(reply)):
                log.warning("a summary step of %s: not in Korean (attempt %d)", run.document, attempt + 1)
                continue
            best = reply
            break
        run.step()
        return best

    def _failed(self, run: SummaryRun) -> SummaryFailed:
        return SummaryFailed(
            f"the model '{run.model or self._chat_model}' gave no usable summary of '{run.document}' in "
            f"{max(1, self._settings.max_attempts)} attempts"
        )


def _instruction(language: str) -> str:
    return f"Write the summary and the key points in {LANGUAGES.get(language, 'English')}."


def _calls(sections: list[Section], group: list[int]) -> int:
    """Model calls a group's map step takes (a long section: one a chunk, and one to merge them)."""
    chunks = len(sections[group[0]].chunks)
    return 1 if len(group) > 1 or chunks == 1 else chunks + 1


def opening_words(heading: str, text: str) -> str:
    """What stands in for a section's summary when the model gave none: its opening words."""
    return truncate_words(_body(heading, text), SECTION_WORDS)


def _body(heading: str, text: str) -> str:
    """A section's text without its heading line (the prompt names the section)."""
    first, _, rest = text.strip().partition("\n")
    return rest.strip() if first.strip().lstrip("#").strip() == " ".join(heading.split()) and rest else text


def _shortened(note: SectionNote) -> SectionNote:
    words = max(10, len(note.notes.summary.split()) // 2)
    notes = Notes(title=note.notes.title, summary=truncate_words(note.notes.summary, words), key_points=[])
    return SectionNote(note.heading, note.first_page, note.last_page, notes)
