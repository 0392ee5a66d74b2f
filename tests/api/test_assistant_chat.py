"""The sources list an assistant appends to its answer in the chat shape (api/assistant_chat.py): one line per
cited passage that a person can check, where the old list repeated ``[1] manual-en.md [2] manual-en.md`` with
neither page nor heading."""

from __future__ import annotations

from api.assistant_chat import QUOTE_CHARS, openwebui_source_event, source_line, sources_footer
from indexing.answers import Answer, Citation


def citation(index: int = 1, **fields: object) -> Citation:
    values: dict[str, object] = {
        "document_id": "d1",
        "filename": "guide.pdf",
        "page": 3,
        "chunk_id": "c1",
        "score": 0.9,
        "text": "...",
        "section": "연말정산 안내서 > 월세 세액공제 > 한도",
        "quote": "월세액의 17%를 세액공제합니다.",
    }
    values.update(fields)
    return Citation(index=index, **values)  # type: ignore[arg-type]


def test_a_source_line_names_file_page_last_two_headings_and_the_quote() -> None:
    line = "[1] guide.pdf, p.3 — 월세 세액공제 > 한도: “월세액의 17%를 세액공제합니다.”"
    assert source_line(citation()) == line


def test_a_source_line_leaves_out_what_the_citation_lacks() -> None:
    line = "[2] guide.pdf — “월세액의 17%를 세액공제합니다.”"
    assert source_line(citation(2, page=None, section=None)) == line
    assert source_line(citation(3, section="Leave", quote="")) == "[3] guide.pdf, p.3 — Leave"
    assert source_line(citation(4, page=None, section="", quote="")) == "[4] guide.pdf"


def test_a_quote_loses_the_markdown_of_its_document() -> None:
    quote = "- **1년 근속 후:** 연차 15일이 부여됩니다."
    line = source_line(citation(section=None, page=None, quote=quote))
    assert line == "[1] guide.pdf — “1년 근속 후: 연차 15일이 부여됩니다.”"


def test_a_long_quote_is_cut_on_one_line_with_an_ellipsis() -> None:
    quote = "Employees receive fifteen days of annual leave\nafter one year of service, " * 6
    line = source_line(citation(section=None, quote=quote))
    shown = line.split("“")[1].removesuffix("”")
    assert "\n" not in line and shown.endswith("…") and len(shown) <= QUOTE_CHARS
    assert quote.replace("\n", " ").startswith(shown.removesuffix("…"))


def test_the_heading_follows_the_answers_language_not_the_questions() -> None:
    cited = [citation(1), citation(2, section="Leave > Annual", quote="15 days after a year.")]
    korean = Answer("월세 세액공제율은 17%입니다 [1].", True, cited, None)
    english = Answer("You get 15 days of annual leave [2].", True, cited, None)
    assert sources_footer(korean, "What is the rent credit rate?").startswith("\n\n출처:\n[1] guide.pdf")
    footer = sources_footer(english, "연차휴가는 며칠인가요?")
    assert footer.splitlines()[2:] == [
        "Sources:",
        "[1] guide.pdf, p.3 — 월세 세액공제 > 한도: “월세액의 17%를 세액공제합니다.”",
        "[2] guide.pdf, p.3 — Leave > Annual: “15 days after a year.”",
    ]
    # an answer with no words of either language: the question's
    assert "출처:" in sources_footer(Answer("17% [1]", True, cited, None), "월세 세액공제율은?")


def test_no_sources_without_citations() -> None:
    not_found = Answer("제공된 문서에는 이 질문에 대한 내용이 없습니다.", False, [], None)
    assert sources_footer(not_found, "?") == ""
    assert openwebui_source_event(not_found) is None


def test_open_webui_gets_one_source_per_citation_in_marker_order() -> None:
    """Open WebUI makes a source of each document with a new ``metadata.source``: distinct ids keep its
    source k on the answer's [k], even where two citations come from one file."""
    cited = [citation(1, chunk_id="c1"), citation(2, chunk_id="c2", page=None, section=None, text="T")]
    event = openwebui_source_event(Answer("17% [1][2]", True, cited, None))
    assert event is not None and event["type"] == "source"
    data = event["data"]
    assert [m["source"] for m in data["metadata"]] == ["hearth:c1", "hearth:c2"]
    assert [m["name"] for m in data["metadata"]] == ["guide.pdf, p.3 — 월세 세액공제 > 한도", "guide.pdf"]
    assert data["metadata"][0]["page"] == 2, "Open WebUI shows page + 1"
    assert "page" not in data["metadata"][1]
    assert data["document"][1] == "> 월세액의 17%를 세액공제합니다.\n\nT", "the quote, then the passage"
    assert data["metadata"][0]["quote"] == "월세액의 17%를 세액공제합니다."
