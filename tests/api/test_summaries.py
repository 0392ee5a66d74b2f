"""PDF summaries end to end: the real server, the real engine (a 2,048-token context, so a ten-page PDF
needs map-reduce), real PDFs written with PyMuPDF, and the `hearth summarize` CLI.

The embedded 0.5B model is weak: these tests check structure, language and limits, not wording."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pymupdf
import pytest

from indexing.summary_quality import check_summary
from inference.language import has_hangul
from tests.indexing.summary_support import english_page, korean_page, make_pdf
from tests.support import OFFLINE_ENV, ROOT, ServerProcess, start_server

# the model calls run on the CPU; a loaded shared machine makes them slow, hence the generous timeout
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

CONTEXT = 2048
FIELDS = {"title", "summary", "key_points", "sections", "language", "pages", "model", "usage"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("summaries")
    env = {
        "HEARTH_ENGINE__N_CTX": str(CONTEXT),
        # the small-machine setting: the 0.5B engine only, and `default` (the summaries' model) falls to it,
        # which keeps these long model calls at the 0.5B's speed
        "HEARTH_ENGINE__LARGE": "false",
        "HEARTH_SUMMARIES__MAX_FILE_MB": "1",
        # a summary step writes a few hundred tokens: on a busy 2-core machine that can take minutes, and a
        # timed-out request retried would queue behind the abandoned one in llama.cpp
        "HEARTH_GATEWAY__REQUEST_TIMEOUT_S": "900",
        "HEARTH_GATEWAY__NUM_RETRIES": "0",
    }
    server = start_server(data_dir, api_key="sk-test-summaries-0001", env=env)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    headers = {"authorization": f"Bearer {server.api_key}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=900) as client:
        yield client


def summarize(client: httpx.Client, name: str, data: bytes, **form: Any) -> httpx.Response:
    return client.post(
        "/v1/summaries", files={"file": (name, data)}, data={k: str(v) for k, v in form.items()}
    )


def check_shape(body: dict[str, Any], *, pages: int, max_words: int) -> None:
    assert FIELDS <= set(body)
    assert body["title"].strip() and body["summary"].strip()
    assert len(body["summary"].split()) <= max_words
    assert isinstance(body["key_points"], list) and all(isinstance(p, str) and p for p in body["key_points"])
    assert body["pages"] == pages and body["model"] == "qwen2.5-coder-0.5b-instruct"
    assert body["sections"] and all(s["heading"] and s["summary"] for s in body["sections"])
    assert body["sections"][0]["first_page"] == 1 and body["sections"][-1]["last_page"] == pages
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0


@functools.cache
def harbour_pdf() -> bytes:
    """One PDF's bytes for the whole module (PyMuPDF writes a random /ID: each build differs)."""
    return make_pdf([english_page(1, 80), english_page(2, 80)])


def test_english_pdf_and_the_stored_result_for_the_same_file(client: httpx.Client) -> None:
    data = harbour_pdf()
    response = summarize(client, "harbour.pdf", data, max_words=40)
    assert response.status_code == 200, response.text
    assert response.headers["x-hearth-cache"] == "miss"
    body = response.json()
    check_shape(body, pages=2, max_words=40)
    assert body["language"] == "en" and not has_hangul(body["summary"])
    assert [s["heading"] for s in body["sections"]] == ["Pages 1–2"]

    started = time.monotonic()
    again = summarize(client, "same-bytes-other-name.pdf", data, max_words=40)
    assert time.monotonic() - started < 5
    assert again.status_code == 200 and again.headers["x-hearth-cache"] == "hit"
    assert again.json() == body


def test_korean_pdf_gets_a_korean_summary(client: httpx.Client) -> None:
    response = summarize(client, "보고서.pdf", make_pdf([korean_page(1, 5), korean_page(2, 5)]), max_words=40)
    assert response.status_code == 200, response.text
    body = response.json()
    check_shape(body, pages=2, max_words=40)
    assert body["language"] == "ko" and has_hangul(body["summary"])


def test_a_pdf_longer_than_the_context_is_mapped_and_reduced(client: httpx.Client) -> None:
    pages = [english_page(i, 150) for i in range(1, 11)]  # about 2,000 tokens of text
    response = summarize(client, "annual-report.pdf", make_pdf(pages), max_words=30)
    assert response.status_code == 200, response.text
    body = response.json()
    check_shape(body, pages=10, max_words=30)
    # every page went through the model, in more than one call: more prompt tokens than one context holds
    assert body["usage"]["prompt_tokens"] > CONTEXT
    assert len(body["sections"]) >= 2
    assert all(re.fullmatch(r"Pages? \d+(–\d+)?", s["heading"]) for s in body["sections"])
    spans = [(s["first_page"], s["last_page"]) for s in body["sections"]]
    assert all(a[1] + 1 == b[0] for a, b in zip(spans, spans[1:], strict=False))


HANDBOOK_KO = """# 노스윈드 사내 안내서

이 안내서는 노스윈드 직원이 알아야 할 규정을 정리합니다.

## 근무 시간

주 소정근로시간은 40시간이며, 출근 시간은 오전 8시에서 10시 사이에 고를 수 있습니다.

## 연차휴가

입사 첫해에는 매달 1일의 연차가 생기고, 1년 근속 후에는 15일을 받습니다.

## 출장

국내 출장은 3영업일 전까지 팀장의 승인을 받아야 합니다.
"""


def test_a_document_with_headings_is_summarised_by_its_sections(client: httpx.Client) -> None:
    response = summarize(client, "안내서.md", HANDBOOK_KO.encode(), max_words=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["language"] == "ko" and has_hangul(body["summary"])
    assert body["title"] == "노스윈드 사내 안내서"  # the document's own title, not the model's
    assert [s["heading"] for s in body["sections"]] == [
        "노스윈드 사내 안내서",
        "근무 시간",
        "연차휴가",
        "출장",
    ]
    assert all(s["summary"] for s in body["sections"])
    checks = check_summary(body, HANDBOOK_KO, ["근무 시간", "연차휴가", "출장"])
    assert checks.unsupported_numbers == [] and checks.stray_characters == []
    assert checks.duplicate_points == [] and checks.fragments == []


def _blank_pdf() -> bytes:
    pdf = pymupdf.open()
    pdf.new_page()
    pdf.new_page().draw_rect(pymupdf.Rect(50, 50, 200, 200), color=(0, 0, 0), fill=(0.5, 0.5, 0.5))
    return pdf.tobytes()


def _encrypted_pdf() -> bytes:
    pdf = pymupdf.open()
    pdf.new_page().insert_text((72, 72), "secret minutes", fontname="helv")
    return pdf.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="pw", owner_pw="pw")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "make", "form", "status", "code"),
    [
        ("program.exe", lambda: b"MZ\x90\x00" + b"\x00" * 200, {}, 415, "unsupported_document_type"),
        ("photo.png", lambda: b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, {}, 415, "unsupported_document_type"),
        ("empty.pdf", lambda: b"", {}, 422, "unreadable_document"),
        ("broken.pdf", lambda: make_pdf([english_page(1, 50)])[:300], {}, 422, "unreadable_document"),
        ("locked.pdf", _encrypted_pdf, {}, 422, "unreadable_document"),
        ("scan.pdf", _blank_pdf, {}, 422, "no_extractable_text"),
        ("huge.pdf", lambda: b"%PDF-1.7\n" + b"0" * 1_200_000, {}, 413, "document_too_large"),
        ("ok.pdf", lambda: make_pdf([english_page(1, 30)]), {"language": "klingon"}, 400, "invalid_value"),
        ("ok.pdf", lambda: make_pdf([english_page(1, 30)]), {"max_words": 3}, 400, "invalid_request"),
    ],
)
def test_bad_input_is_a_4xx_in_the_openai_shape(
    client: httpx.Client, name: str, make: Any, form: dict[str, Any], status: int, code: str
) -> None:
    response = summarize(client, name, make(), **form)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code and error["type"] == "invalid_request_error" and error["message"]


def test_a_request_without_a_file_or_a_key_is_refused(client: httpx.Client, server: ServerProcess) -> None:
    assert client.post("/v1/summaries", data={"max_words": "50"}).status_code == 400
    assert httpx.post(f"{server.base_url}/v1/summaries", files={"file": ("a.pdf", b"x")}).status_code == 401


def _hearth(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **OFFLINE_ENV, "HEARTH_URL": server.base_url, "HEARTH_API_KEY": server.api_key}
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "summarize", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_cli_prints_the_json_or_one_line_why_not(server: ServerProcess, tmp_path: Path) -> None:
    import json

    path = tmp_path / "harbour.pdf"
    path.write_bytes(harbour_pdf())  # summarised by the first test: the stored result comes back
    done = _hearth(server, str(path), "--max-words", "40")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["pages"] == 2 and done.stderr == ""

    bad = tmp_path / "notes.pdf"
    bad.write_bytes(b"not a pdf at all")
    failed = _hearth(server, str(bad))
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.startswith("error: ") and len(failed.stderr.strip().splitlines()) == 1
    missing = _hearth(server, str(tmp_path / "nope.pdf"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr
