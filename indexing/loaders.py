"""Uploaded bytes in, LlamaIndex Documents out: PDF, TXT, Markdown, HTML and DOCX.

The type is decided by the content first (PDF magic, a ZIP holding ``word/document.xml``), then by the
file name, then by the declared content type. Headings of Markdown, HTML and DOCX come out as Markdown
``#`` lines so the chunker can keep the heading path; PDF pages stay one Document each, with ``page``.

    load_document ─ size / empty check ─ detect kind ─ extract ─ LoadedDocument(documents=[...])
        DocumentTooLarge (413) · UnsupportedDocumentType (415) · UnreadableDocument (422)
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import PurePosixPath
from typing import Any, Literal

from llama_index.core.schema import Document

from indexing.errors import DocumentTooLarge, NoExtractableText, UnreadableDocument, UnsupportedDocumentType

DocumentKind = Literal["pdf", "txt", "md", "html", "docx"]

EXTENSIONS: dict[str, DocumentKind] = {
    ".pdf": "pdf",
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".docx": "docx",
}
CONTENT_TYPES: dict[str, DocumentKind] = {
    "application/pdf": "pdf",
    "text/plain": "txt",
    "text/markdown": "md",
    "text/x-markdown": "md",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
}
# formats people try that we refuse with a hint rather than a shrug
_FOREIGN_MAGIC: list[tuple[bytes, str]] = [
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Office file (.doc/.xls/.ppt): save it as .docx or PDF"),
    (b"\x89PNG", "a PNG image: OCR it into a PDF with a text layer first"),
    (b"\xff\xd8\xff", "a JPEG image: OCR it into a PDF with a text layer first"),
    (b"GIF8", "a GIF image"),
    (b"HWP Document", "a legacy HWP file: save it as PDF or .docx"),
]
SUPPORTED = "PDF, TXT, Markdown, HTML or DOCX"
_WORD = re.compile(r"\w")


@dataclass
class LoadedDocument:
    """One upload, read: its identity (sha256 of the bytes), type, page count and extracted Documents."""

    document_id: str
    filename: str
    kind: DocumentKind
    pages: int
    documents: list[Document] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n\n".join(doc.text for doc in self.documents)


def load_document(
    data: bytes, filename: str, *, max_bytes: int, content_type: str | None = None
) -> LoadedDocument:
    """Read an upload into Documents, or raise a DocumentError saying what is wrong and what to do.

    PDF: one Document per page that has text, ``metadata["page"]`` 1-based (``pages`` counts every page).
    Others: one Document; headings as Markdown ``#`` lines, DOCX tables as ``a | b`` rows.
    """
    name = PurePosixPath(filename.replace("\\", "/")).name or "document"
    if len(data) > max_bytes:
        raise DocumentTooLarge(
            f"'{name}' is {_mb(len(data))}, over the {_mb(max_bytes)} limit: split it or raise "
            "HEARTH_INGESTION__MAX_FILE_MB",
            name,
        )
    if not data or not data.strip():
        raise UnreadableDocument(f"'{name}' is empty: upload a file with text in it", name)
    kind = detect_kind(data, name, content_type)
    document_id = hashlib.sha256(data).hexdigest()
    if kind == "pdf":
        texts = _pdf_pages(data, name)
        pages = len(texts)
    elif kind == "docx":
        texts, pages = [_docx_text(data, name)], 1
    elif kind == "html":
        texts, pages = [html_to_markdown(decode_text(data, html=True))], 1
    elif kind == "md":
        texts, pages = [_setext_to_atx(decode_text(data))], 1
    else:
        texts, pages = [decode_text(data)], 1
    base = {"filename": name, "kind": kind, "document_id": document_id}
    documents = [
        Document(
            id_=f"{document_id}:{number}",
            text=text,
            metadata={**base, "page": number} if kind == "pdf" else dict(base),
            excluded_embed_metadata_keys=list(base) + ["page"],
            excluded_llm_metadata_keys=list(base) + ["page"],
        )
        for number, text in enumerate(texts, start=1)
        if _WORD.search(text)  # whitespace, punctuation or control characters alone are no text
    ]
    if not documents:
        hint = " (a scanned PDF needs OCR first)" if kind == "pdf" else ""
        raise NoExtractableText(f"'{name}' has no extractable text{hint}", name)
    return LoadedDocument(document_id, name, kind, pages, documents)


def detect_kind(data: bytes, filename: str, content_type: str | None = None) -> DocumentKind:
    """The document type from the content (magic bytes), then the extension, then the content type."""
    suffix = PurePosixPath(filename).suffix.lower()
    by_name = EXTENSIONS.get(suffix)
    head = data[:1024]
    if b"%PDF-" in head:
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        if _is_docx(data):
            return "docx"
        if by_name == "docx":
            raise UnreadableDocument(
                f"'{filename}' is not a valid .docx file (no word/document.xml)", filename
            )
        raise UnsupportedDocumentType(f"'{filename}' is a ZIP archive, not {SUPPORTED}", filename)
    for magic, what in _FOREIGN_MAGIC:
        if data.startswith(magic):
            raise UnsupportedDocumentType(f"'{filename}' is {what}; supported: {SUPPORTED}", filename)
    if by_name == "pdf":
        raise UnreadableDocument(f"'{filename}' is not a valid PDF (no %PDF header): re-export it", filename)
    if by_name == "docx":
        raise UnreadableDocument(f"'{filename}' is not a valid .docx file: re-save it in Word", filename)
    if by_name is None and content_type:
        by_name = CONTENT_TYPES.get(content_type.split(";")[0].strip().lower())
        if by_name in ("pdf", "docx"):  # the content already said it is neither
            raise UnreadableDocument(f"'{filename}' is declared {content_type} but is not one", filename)
    if by_name is None and re.match(rb"\s*(<!doctype html|<html)", head, re.IGNORECASE):
        by_name = "html"
    if by_name is None:
        raise UnsupportedDocumentType(
            f"'{filename}' has an unsupported type ({suffix or content_type or 'unknown'}): "
            f"upload {SUPPORTED}",
            filename,
        )
    if _looks_binary(head):
        raise UnsupportedDocumentType(f"'{filename}' is binary data, not {by_name} text", filename)
    return by_name


def decode_text(data: bytes, *, html: bool = False) -> str:
    """UTF-8 (BOM or not), UTF-16 with a BOM, the declared HTML charset, cp949 (Korean legacy), latin-1."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    encodings = ["utf-8-sig"]
    if html:
        declared = re.search(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_-]+)", data[:4096], re.IGNORECASE)
        if declared:
            encodings.append(declared.group(1).decode("ascii").lower())
    encodings += ["cp949"]
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("latin-1")


def _looks_binary(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    return b"\x00" in head


def _is_docx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def _mb(size: int) -> str:
    return f"{size / 1_048_576:.1f} MB"


def _pdf_pages(data: bytes, name: str) -> list[str]:
    import pymupdf

    try:
        pdf = pymupdf.open(stream=data, filetype="pdf")
    except Exception as exc:  # FileDataError and friends: truncated, garbage, unsupported filters
        raise UnreadableDocument(f"'{name}' is a corrupt PDF ({exc}): re-export or repair it", name) from exc
    with pdf:
        if pdf.needs_pass:
            raise UnreadableDocument(
                f"'{name}' is encrypted and needs a password: upload an unprotected copy", name
            )
        if pdf.page_count == 0:
            raise UnreadableDocument(f"'{name}' is a PDF with no pages", name)
        try:
            return [pdf[number].get_text("text") for number in range(pdf.page_count)]
        except Exception as exc:
            raise UnreadableDocument(f"'{name}' is a damaged PDF ({exc}): re-export it", name) from exc


_SETEXT = re.compile(r"^(?P<text>[^\n#>\-*|].*)\n(?P<rule>=+|-+)[ \t]*$", re.MULTILINE)


def _setext_to_atx(text: str) -> str:
    """``Title\\n=====`` → ``# Title`` (and ``---`` → ``##``), so every Markdown heading is a ``#`` line."""

    def atx(match: re.Match[str]) -> str:
        level = "#" if match["rule"].startswith("=") else "##"
        return f"{level} {match['text'].strip()}"

    return _SETEXT.sub(atx, text)


# ---- HTML ---------------------------------------------------------------------------------------------

_SKIP = {"script", "style", "nav", "noscript", "template", "svg", "head", "iframe", "object", "button"}
_BLOCK = {
    "p", "div", "section", "article", "main", "header", "footer", "aside", "blockquote", "ul", "ol", "dl",
    "table", "thead", "tbody", "tfoot", "figure", "figcaption", "form", "fieldset", "address", "body",
    "dt", "dd", "hr",
}  # fmt: skip
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}


class _HTMLText(HTMLParser):
    """Visible text of an HTML page as Markdown-ish blocks: ``#`` headings, ``- `` items, ``a | b`` rows."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self._line: list[str] = []
        self._skip = 0
        self._pre = 0
        self._prefix = ""
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def _flush(self) -> None:
        text = "".join(self._line)
        self._line = []
        if not self._pre:
            text = re.sub(r"[ \t\r\n\f\v]+", " ", text).strip()
        if text.strip():
            self.blocks.append(self._prefix + text)
        self._prefix = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
            return
        if self._skip:
            return
        if tag == "tr":
            self._flush()
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "br":
            if self._cell is not None:
                self._cell.append(" ")
            else:
                self._line.append("\n" if self._pre else " ")
                if not self._pre:
                    self._flush()
        elif tag in _HEADINGS:
            self._flush()
            self._prefix = "#" * _HEADINGS[tag] + " "
        elif tag == "li":
            self._flush()
            self._prefix = "- "
        elif tag == "pre":
            self._flush()
            self._pre += 1
        elif tag in _BLOCK:
            self._flush()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIP:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
            return
        if self._skip:
            return
        if tag in ("td", "th") and self._cell is not None:
            cell = re.sub(r"\s+", " ", "".join(self._cell)).strip()
            if self._row is not None:
                self._row.append(cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            cells = [cell for cell in self._row if cell]
            if cells:
                self.blocks.append(" | ".join(cells))
            self._row = None
        elif tag == "pre":
            self._flush()
            self._pre = max(0, self._pre - 1)
        elif tag in _HEADINGS or tag == "li" or tag in _BLOCK:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._cell is not None:
            self._cell.append(data)
        else:
            self._line.append(data)


def html_to_markdown(html: str) -> str:
    """The readable text of an HTML page: script, style and navigation dropped; headings as ``#`` lines."""
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    parser._flush()
    return "\n\n".join(parser.blocks)


# ---- DOCX ---------------------------------------------------------------------------------------------

_HEADING_STYLE = re.compile(r"^(?:heading|제목)\s*(\d)$", re.IGNORECASE)


def _docx_text(data: bytes, name: str) -> str:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document: Any = docx.Document(io.BytesIO(data))
        blocks: list[str] = []
        for element in document.element.body.iterchildren():
            tag = element.tag.rsplit("}", 1)[-1]
            if tag == "p":
                block = _docx_paragraph(Paragraph(element, document))
                if block:
                    blocks.append(block)
            elif tag == "tbl":
                blocks.extend(_docx_rows(Table(element, document)))
    except Exception as exc:  # BadZipFile, KeyError for missing parts, lxml errors
        raise UnreadableDocument(
            f"'{name}' is a damaged .docx file ({exc}): re-save it in Word", name
        ) from exc
    return "\n\n".join(blocks)


def _docx_paragraph(paragraph: Any) -> str:
    text = paragraph.text.strip()
    if not text:
        return ""
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    if style == "Title":
        return f"# {text}"
    heading = _HEADING_STYLE.match(style.strip())
    if heading:
        return "#" * min(6, max(1, int(heading.group(1)))) + " " + text
    if style.startswith("List"):
        return f"- {text}"
    return text


def _docx_rows(table: Any) -> list[str]:
    rows: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = re.sub(r"\s+", " ", cell.text).strip()
            if text and (not cells or cells[-1] != text):  # merged cells repeat their text
                cells.append(text)
        if cells:
            rows.append(" | ".join(cells))
    # a table's rows form one block: single newlines keep them apart for the chunker
    return ["\n".join(rows)] if rows else []
