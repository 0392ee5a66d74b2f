"""load_document on real files generated here: PDF (English and Korean), TXT, Markdown, HTML, DOCX, and
the bad ones (encrypted, corrupt, image-only, empty, unsupported, too large)."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pymupdf
import pytest

from indexing.errors import DocumentError, DocumentTooLarge, UnreadableDocument, UnsupportedDocumentType
from indexing.loaders import load_document
from inference.language import has_hangul

MB = 1_048_576

PAGES = [
    "Annual leave policy. Employees receive fifteen days of paid leave each year.",
    "연차 휴가 규정입니다. 직원은 매년 15일의 유급 휴가를 받습니다.",
    "Sick leave requires a doctor's note after three consecutive days.",
]


def make_pdf(pages: list[str], **save: object) -> bytes:
    """A PDF with one text page per entry; Korean pages use PyMuPDF's bundled CJK font."""
    pdf = pymupdf.open()
    for text in pages:
        page = pdf.new_page()
        font = "korea" if has_hangul(text) else "helv"
        # insert_textbox writes nothing and returns a negative number when the text does not fit
        assert page.insert_textbox(pymupdf.Rect(50, 50, 550, 800), text, fontname=font, fontsize=11) >= 0
    return pdf.tobytes(**save)


def make_docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Employee Handbook", level=1)
    document.add_paragraph("Welcome to the company.")
    document.add_heading("휴가 규정", level=2)
    document.add_paragraph("연차는 15일입니다.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Type", "Days"
    table.cell(1, 0).text, table.cell(1, 1).text = "Annual", "15"
    document.add_paragraph("After the table.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_pdf_one_document_per_page_with_page_numbers() -> None:
    data = make_pdf(PAGES)
    loaded = load_document(data, "handbook.pdf", max_bytes=MB)
    assert loaded.kind == "pdf"
    assert loaded.pages == 3
    assert loaded.document_id == hashlib.sha256(data).hexdigest()
    assert [doc.metadata["page"] for doc in loaded.documents] == [1, 2, 3]
    assert "fifteen days" in loaded.documents[0].text
    assert "유급 휴가" in loaded.documents[1].text  # the Korean text extracts back
    assert loaded.documents[0].metadata["filename"] == "handbook.pdf"


def test_pdf_detected_by_content_whatever_the_name() -> None:
    loaded = load_document(make_pdf(PAGES[:1]), "upload.bin", max_bytes=MB)
    assert loaded.kind == "pdf"


def test_pdf_blank_pages_count_but_yield_no_document() -> None:
    pdf = pymupdf.open()
    pdf.new_page()
    page = pdf.new_page()
    assert page.insert_textbox(pymupdf.Rect(50, 50, 550, 800), "Only page two has text.", fontsize=11) >= 0
    loaded = load_document(pdf.tobytes(), "sparse.pdf", max_bytes=MB)
    assert loaded.pages == 2
    assert [doc.metadata["page"] for doc in loaded.documents] == [2]


def test_encrypted_pdf_is_unreadable() -> None:
    aes256 = pymupdf.PDF_ENCRYPT_AES_256  # type: ignore[attr-defined]
    data = make_pdf(PAGES, encryption=aes256, user_pw="secret", owner_pw="owner")
    with pytest.raises(UnreadableDocument, match="password"):
        load_document(data, "locked.pdf", max_bytes=MB)


def test_corrupt_pdf_is_unreadable() -> None:
    data = make_pdf(PAGES)
    with pytest.raises(UnreadableDocument, match="corrupt") as info:
        load_document(data[: len(data) // 2], "broken.pdf", max_bytes=MB)
    assert info.value.filename == "broken.pdf"
    assert info.value.code == "unreadable_document"


def test_image_only_pdf_has_no_text() -> None:
    pdf = pymupdf.open()
    page = pdf.new_page()
    pixmap = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 40, 40), 0)
    pixmap.clear_with(200)
    page.insert_image(pymupdf.Rect(50, 50, 250, 250), pixmap=pixmap)
    with pytest.raises(UnreadableDocument, match="no extractable text"):
        load_document(pdf.tobytes(), "scan.pdf", max_bytes=MB)


def test_pdf_named_file_that_is_not_a_pdf() -> None:
    with pytest.raises(UnreadableDocument, match="not a valid PDF"):
        load_document(b"just some words", "fake.pdf", max_bytes=MB)


def test_txt_utf8_with_bom() -> None:
    loaded = load_document("\ufeff연말정산 안내\nHello".encode(), "notes.txt", max_bytes=MB)
    assert loaded.kind == "txt" and loaded.pages == 1
    assert loaded.documents[0].text == "연말정산 안내\nHello"
    assert "page" not in loaded.documents[0].metadata


def test_txt_cp949_korean_legacy() -> None:
    text = "의료비 세액공제는 15%입니다."
    loaded = load_document(text.encode("cp949"), "legacy.txt", max_bytes=MB)
    assert loaded.documents[0].text == text


def test_txt_latin1_fallback() -> None:
    loaded = load_document("Café crème ÿ".encode("latin-1"), "fr.txt", max_bytes=MB)
    assert "Caf" in loaded.documents[0].text


def test_markdown_keeps_headings_and_converts_setext() -> None:
    data = b"Guide\n=====\n\nIntro text.\n\n## Leave\n\nFifteen days.\n\nSick leave\n----------\n\nNote.\n"
    loaded = load_document(data, "guide.md", max_bytes=MB)
    text = loaded.documents[0].text
    assert loaded.kind == "md"
    assert "# Guide" in text and "## Leave" in text and "## Sick leave" in text


def test_html_drops_script_style_nav_and_keeps_structure() -> None:
    html = """<!DOCTYPE html><html><head><title>t</title><style>body{color:red}</style></head><body>
    <nav><a href="/">Home</a> | <a href="/about">About</a></nav>
    <script>var tracking = 1;</script>
    <h1>연말정산 안내</h1><p>근로자는 <b>매년</b> 정산합니다.</p>
    <h2>의료비</h2><ul><li>본인: 한도 없음</li><li>가족: 700만원</li></ul>
    <table><tr><th>항목</th><th>공제율</th></tr><tr><td>의료비</td><td>15%</td></tr></table>
    </body></html>"""
    loaded = load_document(html.encode(), "page.html", max_bytes=MB)
    text = loaded.documents[0].text
    assert loaded.kind == "html"
    assert "# 연말정산 안내" in text and "## 의료비" in text
    assert "근로자는 매년 정산합니다." in text
    assert "- 본인: 한도 없음" in text
    assert "의료비 | 15%" in text
    for noise in ("tracking", "About", "color:red", "Home"):
        assert noise not in text


def test_html_sniffed_without_extension() -> None:
    loaded = load_document(b"<!doctype html><p>Hello there</p>", "page", max_bytes=MB)
    assert loaded.kind == "html"


def test_docx_headings_and_table_rows() -> None:
    loaded = load_document(make_docx(), "handbook.docx", max_bytes=MB)
    text = loaded.documents[0].text
    assert loaded.kind == "docx" and loaded.pages == 1
    assert "# Employee Handbook" in text
    assert "## 휴가 규정" in text
    assert "Type | Days\nAnnual | 15" in text
    assert text.index("Annual | 15") < text.index("After the table.")


def test_docx_detected_by_content_and_empty_docx_unreadable() -> None:
    assert load_document(make_docx(), "upload", max_bytes=MB).kind == "docx"
    import docx

    buffer = io.BytesIO()
    docx.Document().save(buffer)
    with pytest.raises(UnreadableDocument, match="no extractable text"):
        load_document(buffer.getvalue(), "blank.docx", max_bytes=MB)


def test_other_zip_is_unsupported() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(UnsupportedDocumentType):
        load_document(buffer.getvalue(), "sheet.xlsx", max_bytes=MB)


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"\x89PNG\r\n\x1a\n....", "photo.png"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "old.doc"),
        (b"col1,col2\n1,2\n", "data.csv"),
        (b"\x00\x01\x02binary", "notes.txt"),
    ],
)
def test_unsupported_types(data: bytes, name: str) -> None:
    with pytest.raises(UnsupportedDocumentType) as info:
        load_document(data, name, max_bytes=MB)
    assert name in info.value.message
    assert info.value.code == "unsupported_document_type"


def test_content_type_decides_for_unknown_extensions() -> None:
    loaded = load_document(b"plain words", "README", max_bytes=MB, content_type="text/plain; charset=utf-8")
    assert loaded.kind == "txt"


@pytest.mark.parametrize("data", [b"", b"  \n\t "])
def test_empty_files_are_unreadable(data: bytes) -> None:
    with pytest.raises(UnreadableDocument, match="empty"):
        load_document(data, "empty.txt", max_bytes=MB)


def test_size_limit() -> None:
    with pytest.raises(DocumentTooLarge, match="limit") as info:
        load_document(b"x" * 2048, "big.txt", max_bytes=1024)
    assert isinstance(info.value, DocumentError)
    assert info.value.code == "document_too_large"
    assert load_document(b"x" * 1024, "ok.txt", max_bytes=1024).kind == "txt"


def test_path_in_filename_is_dropped() -> None:
    loaded = load_document(b"hello", "../../etc/notes.txt", max_bytes=MB)
    assert loaded.filename == "notes.txt"


def test_text_of_punctuation_and_control_characters_only_is_unreadable() -> None:
    with pytest.raises(UnreadableDocument, match="no extractable text"):
        load_document(b"\x01\x02 -- ... \x7f", "noise.txt", max_bytes=MB)
