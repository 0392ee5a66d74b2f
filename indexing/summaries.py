"""Document summaries: upload → pages → summary JSON within the model's context → stored and reused.

    summarize ─ options ─ stored result for (tenant, sha256 of the bytes, options)? ─ yes: return it
        └─ load_document (pages; DocumentError subclasses for bad files) + the PDF outline
           ─ plan_sections (token budget of the model, indexing/mapreduce.py)
           ─ SummaryWriter (one call, or map-reduce; indexing/summary_writer.py) ─ SummaryResult ─ store

The token budget comes from the model group's context window and its own token counter (through the
gateway), so the same code summarises a 300-page PDF on the 0.5B embedded model and on a 70B one.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from configs.settings import SummarySettings
from indexing.assistants import PromptLibrary
from indexing.errors import DocumentTooLarge, InvalidSummaryOptions
from indexing.loaders import LoadedDocument, load_document
from indexing.mapreduce import Page, markdown_headings, plan_sections, read_outline
from indexing.summary_quality import Source, supported_sentences, usable_points
from indexing.summary_schema import SummaryResult, SummarySection, truncate_words
from indexing.summary_writer import (
    LANGUAGES,
    PROMPT_VERSION,
    Progress,
    SummaryGateway,
    SummaryRun,
    SummaryWriter,
    opening_words,
)
from inference.language import detect_language
from storage.summaries import SummaryRepository

MIN_WORDS, MAX_WORDS = 10, 2000
KEY_POINT_WORDS = 60


class SummaryService:
    def __init__(
        self,
        settings: SummarySettings,
        repository: SummaryRepository,
        gateway: SummaryGateway,
        prompts: PromptLibrary,
        chat_model: str,
    ) -> None:
        self._settings = settings
        self._repo = repository
        self._gateway = gateway
        self._chat_model = chat_model
        self._writer = SummaryWriter(settings, gateway, prompts, chat_model)

    @property
    def max_bytes(self) -> int:
        return int(self._settings.max_file_mb * 1024 * 1024)

    async def summarize(
        self,
        data: bytes,
        filename: str,
        *,
        tenant: str,
        language: str | None = None,
        max_words: int | None = None,
        progress: Progress | None = None,
        content_type: str | None = None,
    ) -> SummaryResult:
        """Summarise one upload (PDF; TXT, Markdown, HTML and DOCX too). The same bytes with the same options
        give the stored result (``cached`` true). ``progress`` gets 0..1 as the model calls finish."""
        language = language_option(language)
        words = self._settings.max_words if max_words is None else max_words
        if not MIN_WORDS <= words <= MAX_WORDS:
            raise InvalidSummaryOptions(f"max_words must be {MIN_WORDS}-{MAX_WORDS}", param="max_words")
        if len(data) > self.max_bytes:
            raise DocumentTooLarge(
                f"'{filename}' is over the {self._settings.max_file_mb:g} MB limit for summaries: split it "
                "or raise HEARTH_SUMMARIES__MAX_FILE_MB",
                filename,
            )
        group = self._gateway.catalog.resolve(self._chat_model)
        sha = hashlib.sha256(data).hexdigest()
        key = options_key(language, words, group)
        stored = await asyncio.to_thread(self._repo.get, tenant, sha, key)
        if stored is None:
            loaded = await asyncio.to_thread(
                load_document, data, filename, max_bytes=self.max_bytes, content_type=content_type
            )
            outline = await asyncio.to_thread(read_outline, data) if loaded.kind == "pdf" else []
            outline = headings_of(loaded, outline)
            result = await self._write(loaded, outline, language, words, group, progress)
            stored = await asyncio.to_thread(
                self._repo.save, tenant, sha, key, loaded.filename, result.model_dump(mode="json")
            )
            cached = False
        else:
            cached = True
        if progress is not None:
            progress(1.0)
        return SummaryResult.model_validate(stored.result).model_copy(update={"cached": cached})

    async def summarize_path(self, path: Path, filename: str | None = None, **options: Any) -> SummaryResult:
        """``summarize`` on a file on disk (e.g. a batch job's saved upload)."""
        data = await asyncio.to_thread(path.read_bytes)
        return await self.summarize(data, filename or path.name, **options)

    async def _write(
        self,
        loaded: LoadedDocument,
        outline: list[tuple[int, str, int]],
        language: str | None,
        words: int,
        group: str,
        progress: Progress | None,
    ) -> SummaryResult:
        pages = [
            Page(int(doc.metadata.get("page", i + 1)), doc.text) for i, doc in enumerate(loaded.documents)
        ]
        if language is None:  # the document's own language
            detected = detect_language(loaded.text[:20_000])
            language = detected if detected in LANGUAGES else "en"

        def count(text: str) -> int:
            return self._gateway.count_tokens(group, text)

        budget = self._writer.budget(group, words)
        run = SummaryRun(loaded.filename, loaded.pages, language, words, budget, progress=progress)
        sections = await asyncio.to_thread(plan_sections, pages, outline, loaded.pages, budget, count)
        run.plan(sections, self._writer.parallel(group))
        if progress is not None:
            progress(0.05)
        final, notes = await self._writer.write(run, sections, count)
        section_words = words if len(notes) == 1 else run.map_words
        source = Source(loaded.text)  # its numbers read once for every check below
        summary = supported_sentences(final.summary, source) or " ".join(
            supported_sentences(note.notes.summary, source) for note in notes
        )
        return SummaryResult(
            title=document_title(outline, language)
            or final.title
            or _first_line(pages[0].text)
            or Path(loaded.filename).stem,
            summary=truncate_words(summary, words),
            key_points=[
                truncate_words(point, KEY_POINT_WORDS)
                for point in usable_points(final.key_points, source, language)
            ],
            sections=[
                SummarySection(
                    heading=note.heading,
                    # nothing left that the document supports: the section's opening words, as a failed step
                    summary=truncate_words(
                        supported_sentences(note.notes.summary, source)
                        or opening_words(section.heading, section.chunks[0].text),
                        section_words,
                    ),
                    first_page=note.first_page,
                    last_page=note.last_page,
                )
                for note, section in zip(notes, sections, strict=True)
            ],
            language=language,
            pages=loaded.pages,
            model=run.model or group,
            usage=run.usage,
        )


def headings_of(loaded: LoadedDocument, outline: list[tuple[int, str, int]]) -> list[tuple[int, str, int]]:
    """The document's headings: a PDF's outline or typeset headings, else its ``#`` lines (Markdown, HTML and
    DOCX as the loaders give them, or a PDF of Markdown text)."""
    if outline:
        return outline
    return [
        heading
        for i, doc in enumerate(loaded.documents)
        for heading in markdown_headings(doc.text, int(doc.metadata.get("page", i + 1)))
    ]


def document_title(outline: list[tuple[int, str, int]], language: str) -> str:
    """The document's own title: its one top-level heading, on the first page, in the summary's language."""
    if not outline:
        return ""
    top = min(level for level, _, _ in outline)
    titles = [(title, page) for level, title, page in outline if level == top]
    if len(titles) != 1 or titles[0][1] != 1 or outline[0][0] != top:
        return ""
    title = titles[0][0]
    return title if detect_language(title) in (language, "und") else ""


def options_key(language: str | None, max_words: int, model_group: str) -> str:
    """What makes two summaries of the same bytes the same: ``language|max_words|model|prompt version``."""
    key = f"{language or 'auto'}|{max_words}|{model_group}|{PROMPT_VERSION}"
    return key if len(key) <= 200 else hashlib.sha256(key.encode()).hexdigest()


def language_option(language: str | None) -> str | None:
    """A requested summary language as a code the prompts know; None for auto (the document's own)."""
    if language is None or language.strip().lower() in ("", "auto"):
        return None
    code = language.strip().lower().replace("_", "-").split("-")[0]
    if code not in LANGUAGES:
        raise InvalidSummaryOptions(
            f"unsupported language '{language}': use auto or one of {', '.join(LANGUAGES)}", param="language"
        )
    return code


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return " ".join(line.split())[:200]
    return ""
