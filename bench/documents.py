"""Test documents whose sections are known: the Markdown guides under ``examples/`` typeset as PDFs the way
a word processor would (headings larger than the body, no outline, no Markdown marks), for the summary
benchmark's quality checks. ``python -m bench.documents OUT_DIR`` writes them for a look."""

from __future__ import annotations

import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
# (font size, space before) by heading level; body text is 9.5 pt
_HEADING = {1: (17.0, 10.0), 2: (13.5, 14.0), 3: (11.0, 8.0)}
_BODY = 9.5
_MARGIN, _TOP, _BOTTOM = 50.0, 60.0, 60.0


@dataclass(frozen=True)
class KnownDocument:
    name: str  # the upload's file name
    language: str
    markdown: str  # the source text (what the output is checked against)
    headings: list[str]  # the ## sections, in order

    def pdf(self) -> bytes:
        return typeset(self.markdown)


def known_documents() -> list[KnownDocument]:
    docs = [
        ("yearend-guide-ko.pdf", "ko", EXAMPLES / "tax" / "yearend-guide-ko.md"),
        ("handbook-en.pdf", "en", EXAMPLES / "manual" / "manual-en.md"),
        ("handbook-ko.pdf", "ko", EXAMPLES / "manual" / "manual-ko.md"),
    ]
    out = []
    for name, language, path in docs:
        text = path.read_text(encoding="utf-8")
        headings = [plain(line[3:]) for line in text.splitlines() if line.startswith("## ")]
        out.append(KnownDocument(name, language, text, headings))
    return out


def plain(line: str) -> str:
    """A Markdown line without its marks: emphasis, code, links, quote and list markers."""
    line = re.sub(r"^\s*>\s?", "", line)
    line = re.sub(r"\*\*|__|`", "", line)
    line = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", line)
    return line.strip()


def typeset(markdown: str) -> bytes:
    """A PDF of ``markdown``: headings in larger type, tables as ``a | b`` rows, A4 pages filled in order."""
    import pymupdf

    from inference.language import has_hangul

    pdf = pymupdf.open()
    page = pdf.new_page()
    y = _TOP
    width = page.rect.width - 2 * _MARGIN

    def line_out(text: str, size: float, before: float = 0.0) -> None:
        nonlocal page, y
        if y + before + size > page.rect.height - _BOTTOM:
            page = pdf.new_page()
            y = _TOP
        elif y > _TOP:
            y += before
        y += size
        font = "korea" if has_hangul(text) else "helv"
        if page.insert_text((_MARGIN, y), text, fontname=font, fontsize=size) != 1:
            raise RuntimeError(f"PyMuPDF did not write {text[:40]!r}")
        y += size * 0.35

    for raw in _paragraphs(markdown):
        match = re.match(r"^(#{1,3})\s+(.*)$", raw)
        if match:
            size, before = _HEADING[len(match.group(1))]
            line_out(plain(match.group(2)), size, before)
            continue
        text = plain(raw)
        if not text or re.fullmatch(r"[|\-:\s]+", text):  # blank, or a table's rule
            y += _BODY * 0.5 if not text else 0
            continue
        if text.startswith("|"):
            text = " | ".join(cell.strip() for cell in text.strip("|").split("|"))
        chars = int(width / (_BODY * (1.0 if has_hangul(text) else 0.5)))
        indent = "  " if raw.lstrip()[:2] == "- " else ""
        for piece in textwrap.wrap(text, width=chars, subsequent_indent=indent):
            line_out(piece, _BODY)
    return pdf.tobytes(garbage=3, deflate=True)


def _paragraphs(markdown: str) -> list[str]:
    """Markdown lines with a paragraph's (or a list item's) wrapped lines joined into one."""
    out: list[str] = []
    for line in markdown.splitlines():
        stripped = line.strip()
        starts_block = not stripped or re.match(r"^(#|\||- |\d+\. |>\s*$)", stripped) is not None
        if out and out[-1].strip() and not starts_block and not re.match(r"^\s*(#|\|)", out[-1]):
            out[-1] = f"{out[-1].rstrip()} {plain(stripped)}"
        else:
            out.append(line)
    return out


if __name__ == "__main__":
    out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    out_dir.mkdir(parents=True, exist_ok=True)
    for doc in known_documents():
        (out_dir / doc.name).write_bytes(doc.pdf())
        print(out_dir / doc.name, len(doc.headings), "sections")
