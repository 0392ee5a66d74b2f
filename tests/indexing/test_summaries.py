"""SummaryService with real PDFs, a real SQLite database and a hand-written fake of the gateway."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pymupdf
import pytest

from configs.settings import CONFIG_DIR, SummarySettings
from indexing.assistants import PromptLibrary
from indexing.errors import (
    DocumentTooLarge,
    InvalidSummaryOptions,
    NoExtractableText,
    SummaryFailed,
    UnreadableDocument,
    UnsupportedDocumentType,
)
from indexing.summaries import SummaryService
from indexing.summary_schema import SummaryResult
from inference.language import has_hangul
from storage.db import make_engine, make_session_factory, migrate
from storage.summaries import SummaryRepository
from tests.indexing.summary_support import FakeGateway, english_page, korean_page, make_pdf


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> SummaryRepository:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'hearth.db'}")
    migrate(engine)
    return SummaryRepository(make_session_factory(engine))


def service(repository: SummaryRepository, gateway: FakeGateway, **settings: Any) -> SummaryService:
    return SummaryService(
        SummarySettings(**settings), repository, gateway, PromptLibrary(CONFIG_DIR / "prompts"), "default"
    )


def summarize(svc: SummaryService, data: bytes, name: str = "report.pdf", **options: object) -> SummaryResult:
    options.setdefault("tenant", "t1")
    return asyncio.run(svc.summarize(data, name, **options))  # type: ignore[arg-type]


def test_a_short_document_takes_one_call_and_is_stored(repository: SummaryRepository) -> None:
    gateway = FakeGateway()
    svc = service(repository, gateway)
    data = make_pdf([english_page(1, 60), english_page(2, 60)])
    seen: list[float] = []
    result = summarize(svc, data, progress=seen.append)
    assert gateway.kinds() == ["document"]
    assert result.title == "Annual report" and result.language == "en" and result.pages == 2
    assert result.model == "fake-model"
    assert result.key_points == ["The first point is made here.", "The second point differs from it."]
    assert [(s.heading, s.first_page, s.last_page) for s in result.sections] == [("Pages 1–2", 1, 2)]
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens > 0
    assert seen[0] == 0.05 and seen[-1] == 1.0 and seen == sorted(seen)
    assert not result.cached
    payload = gateway.calls[0]
    assert payload["response_format"]["type"] == "json_schema" and payload["temperature"] == 0

    again = summarize(svc, data, name="renamed.pdf")
    assert again.cached and len(gateway.calls) == 1
    assert again.model_dump() == result.model_dump()
    # other options or another tenant: a new summary
    summarize(svc, data, max_words=40)
    summarize(svc, data, tenant="t2")
    assert len(gateway.calls) == 3


def test_a_long_document_is_mapped_and_reduced_within_the_context(repository: SummaryRepository) -> None:
    gateway = FakeGateway(context_window=1200)
    svc = service(repository, gateway)
    data = make_pdf([english_page(i, 150) for i in range(1, 13)])  # 1,800 words, over a 1,200-token context
    result = summarize(svc, data, max_words=50)
    kinds = gateway.kinds()
    assert kinds[-1] == "reduce" and kinds.count("reduce") == 1 and kinds.count("map") >= 3
    assert len(result.sections) == kinds.count("map")
    assert result.sections[0].heading.startswith("Pages 1–") and result.sections[-1].last_page == 12
    pages = [(s.first_page, s.last_page) for s in result.sections]
    assert all(a[1] + 1 == b[0] for a, b in zip(pages, pages[1:], strict=False))  # consecutive, no gaps
    assert result.usage.prompt_tokens > 1800  # every page went through a map call
    map_prompts = [
        c["messages"][0]["content"] for c, k in zip(gateway.calls, kinds, strict=True) if k == "map"
    ]
    assert all("Section 1." not in p for p in map_prompts[1:])  # each page in one chunk only


def test_notes_that_do_not_fit_one_reduce_are_merged_first(repository: SummaryRepository) -> None:
    gateway = FakeGateway(context_window=1000, words=90)  # long notes: 24 sections' notes overflow a reduce
    svc = service(repository, gateway)
    data = make_pdf([english_page(i, 110) for i in range(1, 25)])
    result = summarize(svc, data, max_words=30)
    kinds = gateway.kinds()
    assert "merge" in kinds and kinds[-1] == "reduce"
    assert len(result.sections) == kinds.count("map")
    assert len(result.summary.split()) <= 30


def test_outline_chapters_become_the_sections(repository: SummaryRepository) -> None:
    gateway = FakeGateway(context_window=1500)
    svc = service(repository, gateway)
    pages = [english_page(i, 120) for i in range(1, 8)]
    toc = [[1, "Harbour operations", 2], [1, "Finance", 4], [1, "Outlook", 6]]
    result = summarize(svc, make_pdf(pages, toc=toc))
    assert [(s.heading, s.first_page, s.last_page) for s in result.sections] == [
        ("Page 1", 1, 1),
        ("Harbour operations", 2, 3),
        ("Finance", 4, 5),
        ("Outlook", 6, 7),
    ]
    assert all(s.summary for s in result.sections)


def test_korean_documents_get_korean_summaries(repository: SummaryRepository) -> None:
    english_first = json.dumps({"title": "Report", "summary": "An English summary.", "key_points": []})
    gateway = FakeGateway(replies=[english_first])
    svc = service(repository, gateway)
    result = summarize(svc, make_pdf([korean_page(1), korean_page(2)]), name="보고서.pdf")
    assert result.language == "ko" and has_hangul(result.summary) and result.title == "연례 보고서"
    assert len(gateway.calls) == 2  # the reply in English was retried
    assert gateway.calls[1]["temperature"] > 0
    assert "Korean" in gateway.calls[0]["messages"][0]["content"]
    # the language can be asked for
    english = summarize(svc, make_pdf([korean_page(3)]), language="en")
    assert english.language == "en" and not has_hangul(english.summary)


def test_max_words_is_honoured(repository: SummaryRepository) -> None:
    gateway = FakeGateway(words=300)  # the model overshoots
    svc = service(repository, gateway)
    result = summarize(svc, make_pdf([english_page(4, 100)]), max_words=25)
    assert len(result.summary.split()) <= 25
    assert "25 words" in gateway.calls[0]["messages"][0]["content"]


def test_malformed_replies_are_repaired_or_retried(repository: SummaryRepository) -> None:
    truncated = (
        '{"title": "Harbour", "summary": "Ships came and costs fell", "key_points": ["The cranes were fixed'
    )
    gateway = FakeGateway(replies=[truncated])
    result = summarize(service(repository, gateway), make_pdf([english_page(5, 80)]))
    assert result.summary == "Ships came and costs fell"
    assert result.key_points == []  # "The cranes were fixed" (cut off) is not a sentence: dropped
    assert len(gateway.calls) == 1

    gateway = FakeGateway(replies=["Sure! Here is the summary:", '{"summary": ""}'])
    result = summarize(service(repository, gateway), make_pdf([english_page(6, 80)]))
    assert len(gateway.calls) == 3 and result.summary.startswith("summary")

    gateway = FakeGateway(replies=["nonsense"] * 3)
    with pytest.raises(SummaryFailed, match="3 attempts"):
        summarize(service(repository, gateway, max_attempts=3), make_pdf([english_page(7, 80)]))


def test_a_map_step_without_a_usable_reply_falls_back_to_its_opening_words(
    repository: SummaryRepository,
) -> None:
    gateway = FakeGateway(context_window=1200, replies=["nonsense"] * 2)
    svc = service(repository, gateway, max_attempts=2)
    result = summarize(svc, make_pdf([english_page(i, 150) for i in range(20, 27)]), max_words=40)
    assert result.sections[0].summary.startswith("Section 20.")
    assert gateway.kinds()[-1] == "reduce"


def test_bad_input_and_options_raise_document_errors(repository: SummaryRepository) -> None:
    svc = service(repository, FakeGateway(), max_file_mb=0.05)
    blank = pymupdf.open()
    blank.new_page()
    encrypted = pymupdf.open()
    encrypted.new_page().insert_text((72, 72), "secret")
    locked = encrypted.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="pw", owner_pw="pw")
    with pytest.raises(UnsupportedDocumentType):
        summarize(svc, b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, name="photo.png")
    with pytest.raises(UnreadableDocument, match="empty"):
        summarize(svc, b"", name="empty.pdf")
    with pytest.raises(UnreadableDocument, match="encrypted"):
        summarize(svc, locked)
    with pytest.raises(NoExtractableText):
        summarize(svc, blank.tobytes())
    with pytest.raises(DocumentTooLarge, match="HEARTH_SUMMARIES__MAX_FILE_MB"):
        summarize(svc, b"%PDF-1.7\n" + b"x" * 60_000)
    data = make_pdf([english_page(8, 50)])
    with pytest.raises(InvalidSummaryOptions, match="language"):
        summarize(svc, data, language="klingon")
    with pytest.raises(InvalidSummaryOptions, match="max_words"):
        summarize(svc, data, max_words=3)


def test_summarize_path_reads_the_file(repository: SummaryRepository, tmp_path: Path) -> None:
    path = tmp_path / "notes.pdf"
    path.write_bytes(make_pdf([english_page(9, 50)]))
    result = asyncio.run(service(repository, FakeGateway()).summarize_path(path, tenant="t3"))
    assert result.pages == 1 and result.sections[0].heading == "Page 1"


def handbook(sections: int, words: int) -> bytes:
    """A Markdown handbook: a title, a preface and ``sections`` ## sections of about ``words`` words."""
    parts = ["# Northwind handbook", "This preface says who wrote the handbook."]
    for i in range(1, sections + 1):
        parts += [f"## Topic {chr(64 + i)}", english_page(i, words)]
    return "\n\n".join(parts).encode()


def test_a_short_document_with_headings_gets_each_sections_summary_in_one_call(
    repository: SummaryRepository,
) -> None:
    gateway = FakeGateway()
    result = summarize(service(repository, gateway), handbook(3, 40), name="handbook.md")
    assert gateway.kinds() == ["document"]
    schema = gateway.calls[0]["response_format"]["json_schema"]["schema"]
    keys = ["1. Northwind handbook", "2. Topic A", "3. Topic B", "4. Topic C"]
    assert list(schema["properties"]) == ["title", "key_points", "sections", "summary"]
    assert schema["properties"]["sections"]["required"] == keys
    prompt = gateway.calls[0]["messages"][0]["content"]
    assert (
        "### 2. Topic A\nSection 1." in prompt
    )  # each section under its number, its heading line not repeated
    assert result.title == "Northwind handbook"  # the document's own title
    assert [(s.heading, s.summary) for s in result.sections] == [
        ("Northwind handbook", "part 1. summary."),
        ("Topic A", "part 2. summary."),
        ("Topic B", "part 3. summary."),
        ("Topic C", "part 4. summary."),
    ]


def test_a_long_document_with_headings_maps_groups_of_sections(repository: SummaryRepository) -> None:
    gateway = FakeGateway(context_window=1500)
    result = summarize(service(repository, gateway), handbook(8, 120), name="handbook.md", max_words=40)
    kinds = gateway.kinds()
    assert kinds[-1] == "reduce" and "sections" in kinds
    assert len(gateway.calls) < 9  # fewer calls than sections: short sections share one
    assert [s.heading for s in result.sections] == ["Northwind handbook"] + [f"Topic {c}" for c in "ABCDEFGH"]
    assert all(s.summary for s in result.sections)
    reduce_prompt = gateway.calls[-1]["messages"][0]["content"]
    assert all(f"## Topic {c}" in reduce_prompt for c in "ABCDEFGH")


def test_numbers_the_document_does_not_state_are_dropped(repository: SummaryRepository) -> None:
    reply = json.dumps(
        {
            "title": "Harbour",
            "summary": "The team handled 127 container ships. Costs fell by 99 percent.",
            "key_points": [
                "The board approved 42 million euros.",
                "Dana Whitfield asked for 2 new inspectors.",
            ],
        }
    )
    gateway = FakeGateway(replies=[reply])
    result = summarize(service(repository, gateway), make_pdf([english_page(1, 60)]))
    assert result.summary == "The team handled 127 container ships."
    assert result.key_points == ["Dana Whitfield asked for 2 new inspectors."]
