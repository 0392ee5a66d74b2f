"""Planning a summary of a document of any length within a model's context window.

A document becomes sections: the PDF outline's chapters when it has one (``get_toc()``), otherwise runs of
pages ("Pages 1–12"). Each section is cut into map chunks of whole pages that fit the token budget (a page
over the budget alone is split by words). Map steps summarise chunks; ``pack`` groups consecutive notes for
the reduce steps, recursively, until one group fits. Nothing here calls a model: token counts come from the
``count`` function the service passes (the model's own tokenizer, through the gateway).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Counter = Callable[[str], int]
SEPARATOR = "\n\n"
SEPARATOR_TOKENS = 2  # what joining two pieces with a blank line costs, at most
HEADING_SCALE = 1.15  # a line set this much larger than the body text is a heading
HEADING_SHARE = 0.25  # ... unless such lines hold more than this share of the characters
RUNNING_SHARE = 0.3  # ... or the same line is set large on this share of the pages (a running header)
_MD_HEADING = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


@dataclass(frozen=True)
class Page:
    number: int  # 1-based
    text: str


@dataclass(frozen=True)
class Chunk:
    first_page: int
    last_page: int
    text: str


@dataclass(frozen=True)
class Section:
    heading: str
    first_page: int
    last_page: int
    chunks: tuple[Chunk, ...]


def page_label(first: int, last: int) -> str:
    return f"Page {first}" if first == last else f"Pages {first}–{last}"


def read_outline(data: bytes) -> list[tuple[int, str, int]]:
    """(level, title, page) of a PDF's outline; when it has none, the headings its type shows
    (``typeset_headings``); [] when neither is there or the file cannot be read."""
    import pymupdf

    try:
        with pymupdf.open(stream=data, filetype="pdf") as pdf:
            toc = [(int(e[0]), str(e[1]), int(e[2])) for e in pdf.get_toc(simple=True)]
            return toc or typeset_headings(pdf)
    except Exception:  # the pages were readable (the loader said so); a broken outline is only no outline
        return []


def typeset_headings(pdf: Any) -> list[tuple[int, str, int]]:
    """(level, title, page) of the lines set larger than the body text (the most common size), up to three
    levels by size; consecutive heading lines of one size are one (wrapped) heading. None when larger
    lines are too many to be headings (over ``HEADING_SHARE`` of the characters: a slide deck, a poster)."""
    sizes: dict[float, int] = {}
    lines: list[tuple[int, float, str]] = []
    for number, page in enumerate(pdf, start=1):
        for block in page.get_text("dict")["blocks"]:
            for line in block.get("lines", []):
                spans = [span for span in line["spans"] if span["text"].strip()]
                if not spans:
                    continue
                text = " ".join("".join(span["text"] for span in spans).split())
                size = round(max(float(span["size"]) for span in spans), 1)
                sizes[size] = sizes.get(size, 0) + len(text)
                lines.append((number, size, text))
    if not sizes:
        return []
    body = max(sizes, key=lambda size: sizes[size])
    larger = sorted((size for size in sizes if size >= body * HEADING_SCALE), reverse=True)[:3]
    total = sum(sizes.values())
    if not larger or sum(sizes[size] for size in larger) > total * HEADING_SHARE:
        return []
    level = {size: i + 1 for i, size in enumerate(larger)}
    # a line set large on many pages (a running header, a page title) heads no section
    pages_of: dict[str, set[int]] = {}
    for number, size, text in lines:
        if size in level:
            pages_of.setdefault(text, set()).add(number)
    running = {text for text, seen in pages_of.items() if len(seen) >= max(3, len(pdf) * RUNNING_SHARE)}
    out: list[tuple[int, str, int]] = []
    previous: tuple[int, float] | None = None
    for index, (number, size, text) in enumerate(lines):
        if size not in level or len(text) > 200 or text in running:
            previous = None
            continue
        if previous == (index - 1, size) and out and out[-1][2] == number:
            out[-1] = (out[-1][0], f"{out[-1][1]} {text}"[:200], number)
        else:
            out.append((level[size], text, number))
        previous = (index, size)
    return out


def markdown_headings(text: str, page: int = 1) -> list[tuple[int, str, int]]:
    """(level, title, page) of the ``#`` heading lines of Markdown-ish text (Markdown, and what the loaders
    make of HTML and DOCX)."""
    return [
        (len(match.group(1)), " ".join(match.group(2).split())[:200], page)
        for match in _MD_HEADING.finditer(text)
    ]


def outline_starts(outline: Sequence[tuple[int, str, int]], page_count: int) -> list[tuple[str, int]]:
    """(heading, first page) of each section the outline names, from the shallowest level that has at least
    two entries with a valid page, in page order."""
    valid = [
        (lvl, " ".join(title.split())[:200], page) for lvl, title, page in outline if 1 <= page <= page_count
    ]
    for level in sorted({lvl for lvl, _, _ in valid}):
        entries = [(title, page) for lvl, title, page in valid if lvl == level and title]
        if len(entries) >= 2:
            return sorted(entries, key=_page)
    return []


def _page(item: tuple[str, int]) -> int:
    return item[1]


def plan_sections(
    pages: Sequence[Page],
    outline: Sequence[tuple[int, str, int]],
    page_count: int,
    budget: int,
    count: Counter,
) -> list[Section]:
    """The document's sections, each with the map chunks that fit ``budget`` tokens. ``pages`` holds only
    the pages with text; ``page_count`` is every page. A section starts where its heading's line is on its
    page (at the page's top when the line cannot be found; sections whose headings share a page and cannot
    be told apart there are joined)."""
    starts = outline_starts(outline, page_count)
    if not starts:
        return [
            Section(page_label(c.first_page, c.last_page), c.first_page, c.last_page, (c,))
            for c in chunk_pages(pages, budget, count)
        ]
    # front matter is named by the document's title when the outline has one above the first section
    front = (
        outline[0][1] if outline and outline[0][2] <= starts[0][1] and outline[0][1] != starts[0][0] else ""
    )
    parts: list[tuple[str, list[Page]]] = [("", [])]  # heading, pieces of pages; "" = front matter
    pending = list(starts)
    for page in pages:
        text, located = page.text, False
        while pending and pending[0][1] <= page.number:
            title, first = pending.pop(0)
            # after a heading placed on this page, search past its line (two sections may share a title)
            at = _find_heading(text, title, 1 if located else 0) if first == page.number else None
            if at is None and located:  # a second heading of this page that cannot be placed: join it
                parts[-1] = (f"{parts[-1][0]}; {title}", parts[-1][1])
                continue
            if at:
                parts[-1][1].append(Page(page.number, text[:at]))
                text = text[at:]
            parts.append((title, []))
            located = True
        parts[-1][1].append(Page(page.number, text))
    sections: list[Section] = []
    for heading, pieces in parts:
        pieces = [piece for piece in pieces if piece.text.strip()]
        if not pieces:
            continue
        first, last = pieces[0].number, pieces[-1].number
        label = heading or (front if front and not sections else page_label(first, last))
        sections.append(Section(label, first, last, tuple(chunk_pages(pieces, budget, count))))
    return sections


def _find_heading(text: str, title: str, start: int = 0) -> int | None:
    """Where the line holding ``title`` (its words, any spacing, a ``#`` mark) starts in ``text``."""
    words = title.split()
    if not words:
        return None
    pattern = r"^[ \t]*(?:#{1,6}[ \t]+)?" + r"\s+".join(re.escape(word) for word in words)
    match = re.compile(pattern, re.MULTILINE).search(text, start)
    return match.start() if match else None


def chunk_pages(pages: Sequence[Page], budget: int, count: Counter) -> list[Chunk]:
    """Consecutive whole pages per chunk while they fit ``budget``; a page larger than it is split."""
    chunks: list[Chunk] = []
    current: list[Page] = []
    used = 0

    def flush() -> None:
        nonlocal current, used
        if current:
            text = SEPARATOR.join(page.text.strip() for page in current)
            chunks.append(Chunk(current[0].number, current[-1].number, text))
        current, used = [], 0

    for page in pages:
        tokens = count(page.text.strip())
        if tokens > budget:
            flush()
            chunks += [
                Chunk(page.number, page.number, piece) for piece in split_text(page.text, budget, count)
            ]
            continue
        if current and used + SEPARATOR_TOKENS + tokens > budget:
            flush()
        used += tokens + (SEPARATOR_TOKENS if current else 0)
        current.append(page)
    flush()
    return chunks


def split_text(text: str, budget: int, count: Counter) -> list[str]:
    """``text`` in consecutive pieces of at most ``budget`` tokens, cut at word boundaries if it has any."""
    text = text.strip()
    tokens = count(text)
    if tokens <= budget:
        return [text] if text else []
    words = text.split()
    if len(words) > 1:
        parts = math.ceil(tokens / budget)
        size = math.ceil(len(words) / parts)
        pieces = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
    else:  # one long run without spaces (a table dump, CJK without spacing): halve by characters
        half = len(text) // 2
        pieces = [text[:half], text[half:]]
    out: list[str] = []
    for piece in pieces:
        out += split_text(piece, budget, count)
    return out


def pack(texts: Sequence[str], budget: int, count: Counter) -> list[list[int]]:
    """Indexes of consecutive ``texts`` grouped so each group, joined by blank lines, fits ``budget``.
    An item over the budget on its own is a group of its own (the caller shortens it)."""
    groups: list[list[int]] = []
    used = 0
    for i, text in enumerate(texts):
        tokens = count(text)
        if groups and groups[-1] and used + SEPARATOR_TOKENS + tokens <= budget:
            groups[-1].append(i)
            used += SEPARATOR_TOKENS + tokens
        else:
            groups.append([i])
            used = tokens
    return groups
