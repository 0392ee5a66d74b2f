"""Map-reduce planning (sections, chunks, groups within a token budget) and the repair of model replies."""

from __future__ import annotations

import json

import pymupdf
import pytest

from indexing.mapreduce import (
    Page,
    chunk_pages,
    markdown_headings,
    outline_starts,
    pack,
    plan_sections,
    read_outline,
    split_text,
    typeset_headings,
)
from indexing.summary_schema import close_json, notes_schema, parse_reply, truncate_words
from tests.indexing.summary_support import english_page, make_pdf


def words(text: str) -> int:
    return len(text.split())


def pages_of(sizes: list[int]) -> list[Page]:
    return [Page(i + 1, " ".join([f"p{i + 1}"] * size)) for i, size in enumerate(sizes)]


# -- planning ------------------------------------------------------------------------------------------------


def test_chunks_take_whole_pages_while_they_fit() -> None:
    chunks = chunk_pages(pages_of([40, 40, 40, 40, 40]), 100, words)
    assert [(c.first_page, c.last_page) for c in chunks] == [(1, 2), (3, 4), (5, 5)]
    assert all(words(c.text) <= 100 for c in chunks)
    assert chunks[0].text.startswith("p1 ") and "p2" in chunks[0].text


def test_a_page_over_the_budget_is_split_at_words() -> None:
    chunks = chunk_pages(pages_of([30, 250, 30]), 100, words)
    assert [(c.first_page, c.last_page) for c in chunks] == [(1, 1), (2, 2), (2, 2), (2, 2), (3, 3)]
    assert all(words(c.text) <= 100 for c in chunks)
    assert sum(words(c.text) for c in chunks if c.first_page == 2) == 250


def test_split_text_without_spaces_halves_by_characters() -> None:
    def chars(text: str) -> int:
        return len(text)

    pieces = split_text("가" * 1000, 300, chars)
    assert "".join(pieces) == "가" * 1000 and all(len(p) <= 300 for p in pieces)


def test_without_an_outline_sections_are_page_ranges() -> None:
    sections = plan_sections(pages_of([60, 60, 60, 60]), [], 4, 130, words)
    assert [s.heading for s in sections] == ["Pages 1–2", "Pages 3–4"]
    single = plan_sections(pages_of([10]), [], 1, 130, words)
    assert [s.heading for s in single] == ["Page 1"] and len(single[0].chunks) == 1


def test_outline_sections_keep_headings_and_split_long_chapters() -> None:
    outline = [(1, "Report", 1), (2, "Harbour", 2), (2, "Finance", 4), (2, "Outlook", 4), (3, "Detail", 5)]
    # level 1 has one entry: the sections come from level 2
    assert outline_starts(outline, 6) == [("Harbour", 2), ("Finance", 4), ("Outlook", 4)]
    sections = plan_sections(pages_of([20, 60, 60, 60, 60, 60]), outline, 6, 130, words)
    assert [(s.heading, s.first_page, s.last_page) for s in sections] == [
        ("Report", 1, 1),  # front matter before the first chapter, named by the document's title
        ("Harbour", 2, 3),
        ("Finance; Outlook", 4, 6),  # two chapters on one page whose headings the text does not show
    ]
    assert len(sections[2].chunks) == 2  # 180 words do not fit one 130-token chunk


def test_sections_start_at_their_heading_lines_within_a_page() -> None:
    text = (
        "Handbook\nIntro words here.\n## Leave\nFifteen days.\n## Leave\nCarry over five.\n"
        "## Travel\nBook early."
    )
    outline = markdown_headings(text)
    assert outline == [(2, "Leave", 1), (2, "Leave", 1), (2, "Travel", 1)]
    sections = plan_sections([Page(1, text)], outline, 1, 100, words)
    assert [(s.heading, s.chunks[0].text) for s in sections] == [
        ("Page 1", "Handbook\nIntro words here."),
        ("Leave", "## Leave\nFifteen days."),
        ("Leave", "## Leave\nCarry over five."),  # a repeated title is the next line that has it
        ("Travel", "## Travel\nBook early."),
    ]
    # a PDF's page text: the heading's words wrapped over two lines still start the section
    page2 = "end of the last section.\nRemote and hybrid\nwork\nStaff may work from home."
    outline = [(1, "Intro", 1), (1, "Remote and hybrid work", 2)]
    found = plan_sections([Page(1, "Intro\nSome words."), Page(2, page2)], outline, 2, 100, words)
    assert [(s.heading, s.first_page, s.last_page, s.chunks[0].text) for s in found] == [
        ("Intro", 1, 2, "Intro\nSome words.\n\nend of the last section."),
        ("Remote and hybrid work", 2, 2, "Remote and hybrid\nwork\nStaff may work from home."),
    ]


def test_headings_are_read_from_the_type_of_a_pdf_without_an_outline() -> None:
    pdf = pymupdf.open()
    page = pdf.new_page()
    lines = [("Staff handbook", 18), ("Working hours", 13), *[(english_page(1, 12), 9)] * 3]
    lines += [("Annual leave and", 13), ("public holidays", 13), *[(english_page(2, 12), 9)] * 3]
    y = 60.0
    for text, size in lines:
        page.insert_text((40, y), text, fontsize=size)
        y += size + 6
    outline = read_outline(pdf.tobytes())
    assert outline == [
        (1, "Staff handbook", 1),
        (2, "Working hours", 1),
        (2, "Annual leave and public holidays", 1),  # a wrapped heading is one
    ]
    # a running header set large on every page heads nothing
    pdf = pymupdf.open()
    for number in range(1, 5):
        page = pdf.new_page()
        page.insert_text((40, 40), "Northwind annual report", fontsize=14)
        if number == 3:
            page.insert_text((40, 70), "Finance", fontsize=14)
        page.insert_text((40, 100), english_page(number, 12), fontsize=9)
        page.insert_text((40, 120), english_page(number + 1, 12), fontsize=9)
    assert typeset_headings(pdf) == [(1, "Finance", 3)]
    # one size only: no headings
    assert typeset_headings(pymupdf.open(stream=make_pdf([english_page(1, 40)]))) == []


def test_outline_pages_out_of_range_are_ignored() -> None:
    assert outline_starts([(1, "A", 1), (1, "B", -1), (1, "C", 99)], 5) == []


def test_pack_groups_consecutive_texts_within_the_budget() -> None:
    texts = ["a " * 40, "b " * 40, "c " * 40, "d " * 200, "e " * 10]
    assert pack(texts, 100, words) == [[0, 1], [2], [3], [4]]
    assert pack(["x"], 100, words) == [[0]]


def test_read_outline_from_a_real_pdf() -> None:
    data = make_pdf(
        [english_page(i, 40) for i in range(1, 5)], toc=[[1, "Intro", 1], [1, "Ships", 2], [2, "Cranes", 3]]
    )
    assert read_outline(data) == [(1, "Intro", 1), (1, "Ships", 2), (2, "Cranes", 3)]
    assert read_outline(make_pdf([english_page(1, 40)])) == []
    assert read_outline(b"%PDF-1.7 garbage") == []


# -- replies -------------------------------------------------------------------------------------------------


def test_a_valid_reply_is_kept() -> None:
    reply = json.dumps({"title": "T", "summary": "It works.", "key_points": ["a", "b"]})
    notes = parse_reply(reply)
    assert notes is not None and (notes.title, notes.summary, notes.key_points) == (
        "T",
        "It works.",
        ["a", "b"],
    )


def test_a_reply_cut_off_at_max_tokens_is_closed() -> None:
    assert close_json('{"summary": "The harbour grew') == '{"summary": "The harbour grew"}'
    assert close_json('{"a": ["x", "y",') == '{"a": ["x", "y"]}'
    notes = parse_reply('{"title": "Report", "summary": "Ships came. Costs fell", "key_points": ["one", "tw')
    assert notes is not None and notes.summary == "Ships came. Costs fell" and notes.key_points[0] == "one"
    # cut inside a key: the half-written key is dropped
    notes = parse_reply('{"summary": "Fine.", "key_poi')
    assert notes is not None and notes.summary == "Fine." and notes.key_points == []


def test_fields_are_coerced_trimmed_and_deduplicated() -> None:
    reply = (
        '```json\n{"summary": "  Ships came.  Ships came.   Costs fell. ", '
        '"key_points": "- first\\n- second\\n- first", "extra": 1}\n```'
    )
    notes = parse_reply(reply, key_points=4)
    assert notes is not None
    assert notes.summary == "Ships came. Costs fell."  # the repeated sentence (a small model's loop) is gone
    assert notes.key_points == ["first", "second"] and notes.title == ""
    many = parse_reply(json.dumps({"summary": "s", "key_points": [str(i) for i in range(10)] + [3, None]}))
    assert many is not None and len(many.key_points) == 6


@pytest.mark.parametrize(
    "reply", ["", "no json here", '{"title": "only a title"}', '{"summary": "   "}', "[1]"]
)
def test_replies_without_a_summary_are_unusable(reply: str) -> None:
    assert parse_reply(reply) is None


def test_truncate_words_cuts_at_a_sentence_or_word_boundary() -> None:
    text = "One two three. Four five six seven. Eight nine ten eleven twelve."
    assert truncate_words(text, 20) == text
    assert truncate_words(text, 8) == "One two three. Four five six seven."
    assert truncate_words("alpha beta gamma delta epsilon", 3) == "alpha beta gamma…"
    assert len(truncate_words("가나 다라 마바 사아 자차", 2).split()) == 2


def test_the_schema_asks_for_the_fields_in_order() -> None:
    schema = notes_schema(with_title=True, key_points=5)
    assert schema["required"] == ["title", "summary", "key_points"]
    assert schema["properties"]["key_points"]["maxItems"] == 5
    assert "title" not in notes_schema(with_title=False, key_points=4)["properties"]
