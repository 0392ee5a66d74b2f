"""Planning a summary of a document of any length within a model's context window.

A document becomes sections: the PDF outline's chapters when it has one (``get_toc()``), otherwise runs of
pages ("Pages 1–12"). Each section is cut into map chunks of whole pages that fit the token budget (a page
over the budget alone is split by words). Map steps summarise chunks; ``pack`` groups consecutive notes for
the reduce steps, recursively, until one group fits. Nothing here calls a model: token counts come from the
``count`` function the service passes (the model's own tokenizer, through the gateway).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Counter = Callable[[str], int]
SEPARATOR = "\n\n"
SEPARATOR_TOKENS = 2  # what joining two pieces with a blank line costs, at most


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
    """(level, title, page) of a PDF's outline; [] when it has none or cannot be read."""
    import pymupdf

    try:
        with pymupdf.open(stream=data, filetype="pdf") as pdf:
            return [(int(e[0]), str(e[1]), int(e[2])) for e in pdf.get_toc(simple=True)]
    except Exception:  # the pages were readable (the loader said so); a broken outline is only no outline
        return []


def outline_starts(outline: Sequence[tuple[int, str, int]], page_count: int) -> list[tuple[str, int]]:
    """(heading, first page) of each section the outline names, from the shallowest level that has at least
    two entries with a valid page; entries sharing a first page are joined."""
    valid = [
        (lvl, " ".join(title.split())[:200], page) for lvl, title, page in outline if 1 <= page <= page_count
    ]
    for level in sorted({lvl for lvl, _, _ in valid}):
        entries = sorted(((page, title) for lvl, title, page in valid if lvl == level and title), key=_first)
        if len(entries) < 2:
            continue
        starts: list[tuple[str, int]] = []
        for page, title in entries:
            if starts and starts[-1][1] == page:
                starts[-1] = (f"{starts[-1][0]}; {title}", page)
            else:
                starts.append((title, page))
        return starts
    return []


def _first(item: tuple[int, str]) -> int:
    return item[0]


def plan_sections(
    pages: Sequence[Page],
    outline: Sequence[tuple[int, str, int]],
    page_count: int,
    budget: int,
    count: Counter,
) -> list[Section]:
    """The document's sections, each with the map chunks that fit ``budget`` tokens. ``pages`` holds only
    the pages with text; ``page_count`` is every page."""
    starts = outline_starts(outline, page_count)
    if not starts:
        return [
            Section(page_label(c.first_page, c.last_page), c.first_page, c.last_page, (c,))
            for c in chunk_pages(pages, budget, count)
        ]
    if starts[0][1] > 1:  # front matter before the first chapter
        starts.insert(0, (page_label(1, starts[0][1] - 1), 1))
    sections: list[Section] = []
    for i, (heading, first) in enumerate(starts):
        last = starts[i + 1][1] - 1 if i + 1 < len(starts) else page_count
        inside = [page for page in pages if first <= page.number <= last]
        chunks = chunk_pages(inside, budget, count)
        if chunks:
            sections.append(Section(heading, first, last, tuple(chunks)))
    return sections


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
