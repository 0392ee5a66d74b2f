"""Documents and RAG end to end: real server, real engine, real embedders and the embedded vector store."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pymupdf
import pytest

from api.hearthignore import walk_documents
from indexing.evaluation.metrics import Passage, leaks
from indexing.numbers import contains_number_phrase, unsupported_numbers
from inference import sse
from tests.support import LARGE, ROOT, ServerProcess, start_server

pytestmark = pytest.mark.slow

OTHER_KEY = "sk-test-other-tenant-0002"
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def rag(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("rag")
    server = start_server(
        data_dir,
        api_key="sk-test-rag-owner-0001",
        env={
            "HEARTH_API_KEYS": f"sk-test-rag-owner-0001,{OTHER_KEY}",
            "HEARTH_INGESTION__MAX_FILE_MB": "1",
            # every answer is written by the model here (tests/api/test_caching.py covers the cache)
            "HEARTH_CACHE__ENABLED": "false",
            **LARGE,  # the answers of the default as shipped
        },
    )
    yield server
    server.stop()


def _client(server: ServerProcess, key: str | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=server.base_url, headers={"authorization": f"Bearer {key or server.api_key}"}, timeout=300
    )


def _pdf(pages: list[str]) -> bytes:
    doc = pymupdf.open()
    for text in pages:
        page = doc.new_page()
        written = page.insert_textbox(pymupdf.Rect(50, 50, 550, 800), text, fontname="korea", fontsize=11)
        assert written >= 0, "the text did not fit the page"
    return doc.tobytes()


def _upload(client: httpx.Client, collection: str, name: str, data: bytes) -> httpx.Response:
    return client.post(f"/v1/collections/{collection}/documents", files={"file": (name, io.BytesIO(data))})


def test_collection_lifecycle_formats_dedup_and_pages(rag: ServerProcess) -> None:
    with _client(rag) as client:
        created = client.post("/v1/collections", json={"name": "docs", "description": "mixed formats"})
        assert created.status_code == 201, created.text
        assert created.json()["embedder"] == "multilingual-e5-small"
        assert client.post("/v1/collections", json={"name": "docs"}).status_code == 409
        assert client.post("/v1/collections", json={"name": "bad name!"}).status_code == 400

        pdf = _pdf(
            [
                "Chapter one. The lighthouse keeper Marta Okonkwo lit the lamp every evening at dusk.",
                "Chapter two. The supply boat named Gullwing arrives on the first Tuesday of each month.",
                "제3장. 등대의 비상 연락처는 내선 4417번이며 야간 당직자는 김서준입니다.",
            ]
        )
        response = _upload(client, "docs", "lighthouse.pdf", pdf)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["pages"] == 3 and body["chunks"] >= 3 and body["status"] == "indexed"
        document_id = body["document_id"]

        again = _upload(client, "docs", "renamed-copy.pdf", pdf)
        assert again.status_code == 200 and again.json()["duplicate"] is True
        assert again.json()["document_id"] == document_id and again.json()["chunks"] == body["chunks"]

        files = {
            "notes.txt": "The server room code is 7731. 서버실 출입 코드는 7731입니다.".encode(),
            "guide.md": b"# Parking\n\n## Visitors\n\nVisitors park on level B2 and register at the desk.\n",
            "page.html": b"<html><head><script>var x=1;</script></head><body><nav>menu</nav><h1>Canteen</h1>"
            b"<p>The canteen serves bibimbap on Fridays.</p></body></html>",
        }
        for name, data in files.items():
            uploaded = _upload(client, "docs", name, data)
            assert uploaded.status_code == 201, (name, uploaded.text)
        docx = _docx("Security", "Badges must be worn visibly at all times inside the building.")
        assert _upload(client, "docs", "security.docx", docx).status_code == 201

        listed = client.get("/v1/collections/docs/documents").json()["data"]
        assert len(listed) == 5 and all(d["status"] == "indexed" for d in listed)

        answer = client.post(
            "/v1/collections/docs/query", json={"question": "When does the supply boat Gullwing arrive?"}
        ).json()
        assert answer["found"] is True
        pages = {(c["filename"], c["page"]) for c in answer["citations"]}
        assert ("lighthouse.pdf", 2) in pages
        top = answer["citations"][0]
        fields = {"document_id", "filename", "page", "chunk_id", "score", "text", "section", "quote"}
        assert set(top) == fields
        assert top["quote"] and top["quote"] in top["text"].replace("\n", " ")

        korean = client.post(
            "/v1/collections/docs/query", json={"question": "등대의 비상 연락처 내선 번호는?"}
        ).json()
        assert korean["found"] is True
        assert any(c["page"] == 3 for c in korean["citations"])

        html = client.post(
            "/v1/collections/docs/query", json={"question": "What does the canteen serve on Fridays?"}
        )
        assert any(c["filename"] == "page.html" for c in html.json()["citations"])
        assert "var x" not in json.dumps(html.json()["citations"])

        # delete: the document's chunks are gone from answers
        assert client.delete(f"/v1/collections/docs/documents/{document_id}").status_code == 204
        after = client.post(
            "/v1/collections/docs/query", json={"question": "When does the supply boat Gullwing arrive?"}
        ).json()
        assert all(c["filename"] != "lighthouse.pdf" for c in after["citations"])
        assert client.delete(f"/v1/collections/docs/documents/{document_id}").status_code == 404


def _docx(heading: str, paragraph: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(heading, level=1)
    document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_not_found_gives_no_invented_answer(rag: ServerProcess) -> None:
    with _client(rag) as client:
        client.post("/v1/collections", json={"name": "onlyparking"})
        _upload(client, "onlyparking", "p.md", b"# Parking\n\nVisitors park on level B2.\n")
        answer = client.post(
            "/v1/collections/onlyparking/query",
            json={"question": "What is the boiling point of mercury in Kelvin?"},
        ).json()
        assert answer["found"] is False
        assert answer["citations"] == []
        assert answer["answer"] == "The provided documents do not cover this question."
        korean = client.post(
            "/v1/collections/onlyparking/query", json={"question": "수은의 끓는점은 몇 켈빈인가요?"}
        ).json()
        assert (
            korean["found"] is False and korean["answer"] == "제공된 문서에는 이 질문에 대한 내용이 없습니다."
        )


def test_bad_uploads_are_4xx_and_leave_nothing(rag: ServerProcess) -> None:
    with _client(rag) as client:
        client.post("/v1/collections", json={"name": "strict"})
        cases = {
            "program.exe": (b"MZ\x90\x00" + b"\x00" * 200, 415),
            "empty.txt": (b"", 422),
            "broken.pdf": (_pdf(["hello"])[:300], 422),
            "huge.txt": (b"word " * 300_000, 413),  # 1.5 MB over the server's 1 MB limit
        }
        encrypted = pymupdf.open()
        encrypted.new_page().insert_text((72, 72), "secret")
        cases["locked.pdf"] = (
            encrypted.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="pw", owner_pw="pw"),
            422,
        )
        for name, (data, status) in cases.items():
            response = _upload(client, "strict", name, data)
            assert response.status_code == status, (name, response.text)
            assert set(response.json()["error"]) == {"message", "type", "param", "code"}
        assert client.get("/v1/collections/strict/documents").json()["data"] == []
        missing = _upload(client, "no-such-collection", "a.txt", b"hello")
        assert missing.status_code == 404


def test_tenant_isolation(rag: ServerProcess) -> None:
    with _client(rag) as owner, _client(rag, OTHER_KEY) as other:
        owner.post("/v1/collections", json={"name": "private"})
        _upload(owner, "private", "secret.md", b"# Secret\n\nThe vault combination is 31-7-22.\n")
        assert other.get("/v1/collections/private").status_code == 404
        assert "private" not in [c["name"] for c in other.get("/v1/collections").json()["data"]]
        assert (
            other.post("/v1/collections/private/query", json={"question": "vault combination"}).status_code
            == 404
        )
        assert other.get("/v1/collections/private/documents").status_code == 404
        # the other tenant may use the same name for its own, separate collection
        assert other.post("/v1/collections", json={"name": "private"}).status_code == 201
        answer = other.post("/v1/collections/private/query", json={"question": "vault combination"}).json()
        assert answer["found"] is False


def test_streamed_answers_equal_whole_ones_and_sessions_follow_up(rag: ServerProcess) -> None:
    with _client(rag) as client:
        client.post("/v1/collections", json={"name": "leave"})
        _upload(
            client,
            "leave",
            "leave.md",
            (
                b"# Leave policy\n\n## Annual leave\n\nEmployees get 15 days of annual leave per year.\n\n"
                b"## Sick leave\n\nEmployees get 10 days of paid sick leave per year; a doctor's note is "
                b"needed after 3 consecutive days.\n"
            ),
        )
        question = {"question": "How many days of annual leave do employees get?"}
        with client.stream(
            "POST", "/v1/collections/leave/query", json={**question, "stream": True}
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = sse.parse_events(response.iter_lines())
        assert [e["type"] for e in events][-2:] == ["citations", "done"]
        cited = events[-2]
        assert cited["found"] is True and cited["citations"]
        assert events[-1]["answer"] and "15" in events[-1]["answer"]
        assert "".join(e["content"] for e in events if e["type"] == "delta").strip() == events[-1]["answer"]
        whole = client.post("/v1/collections/leave/query", json=question).json()
        assert whole["answer"] == events[-1]["answer"]
        assert [c["chunk_id"] for c in whole["citations"]] == [c["chunk_id"] for c in cited["citations"]]
        session = cited["session_id"]
        assert session

        follow = client.post(
            "/v1/collections/leave/query",
            json={"question": "And how many days of sick leave?", "session_id": session},
        ).json()
        assert follow["session_id"] == session and follow["found"] is True
        assert any("sick" in c["text"].lower() for c in follow["citations"])


@pytest.mark.skipif(not (EXAMPLES / "tax").exists(), reason="examples/tax not written yet")
def test_assistants_on_their_sample_corpora(rag: ServerProcess) -> None:
    with _client(rag) as client:
        for folder, collection in (("tax", "tax-kr"), ("manual", "manual")):
            client.post("/v1/collections", json={"name": collection})
            for path in sorted((EXAMPLES / folder).glob("*.md")):
                if path.name.lower() == "readme.md":
                    continue
                assert _upload(client, collection, path.name, path.read_bytes()).status_code in (200, 201)
        models = [m["id"] for m in client.get("/v1/models").json()["data"]]
        assert {"assistant/tax-kr", "assistant/manual-qa"} <= set(models)

        answer = client.post(
            "/v1/assistants/tax-kr/ask", json={"question": "월세 세액공제율은 얼마인가요?"}
        ).json()
        assert answer["found"] is True
        assert any("월세" in c["text"] and "17" in c["text"] for c in answer["citations"])
        assert answer["answer"].strip()  # the 0.5B model's wording varies; the grounding is what is checked

        sdk = openai.OpenAI(base_url=rag.v1, api_key=rag.api_key, max_retries=0, timeout=300)
        completion = sdk.chat.completions.create(
            model="assistant/tax-kr", messages=[{"role": "user", "content": "의료비 세액공제 한도는?"}]
        )
        assert completion.model_extra["citations"]
        content = completion.choices[0].message.content or ""
        # one line per citation: the file, and the heading and sentence people can check it against
        footer = content.split("\n\n출처:\n")[1].splitlines()
        assert len(footer) == len(completion.model_extra["citations"])
        assert all(line.startswith(f"[{n}] ") and "“" in line for n, line in enumerate(footer, 1)), footer
        chunks = list(
            sdk.chat.completions.create(
                model="assistant/manual-qa",
                stream=True,
                messages=[{"role": "user", "content": "How many days of annual leave do new employees get?"}],
            )
        )
        # the citations are known once the answer is written: they come with the finish reason
        last = next(c for c in reversed(chunks) if c.choices)
        assert last.choices[0].finish_reason == "stop" and last.model_extra["citations"]
        assert not any((c.model_extra or {}).get("citations") for c in chunks if c is not last)
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def _sample_collection(client: httpx.Client, folder: str, collection: str) -> None:
    """The sample corpus as `hearth ingest` takes it (its .hearthignore leaves the README out)."""
    if client.get(f"/v1/collections/{collection}").status_code == 200:
        return
    client.post("/v1/collections", json={"name": collection})
    for path in walk_documents(EXAMPLES / folder, {".md"})[0]:
        assert _upload(client, collection, path.name, path.read_bytes()).status_code in (200, 201)


def test_grounded_answers_cross_lingual_questions_and_refusals(rag: ServerProcess) -> None:
    """Issue 10 on the real 1.5B: the figure with its citation, an English question answered from the Korean
    guide, uncovered questions refused, and never scaffolding or an unsupported figure."""
    with _client(rag) as client:
        _sample_collection(client, "tax", "tax-guide")
        asked = {
            "체크카드 사용분의 소득공제율은 몇 %인가요?": "30%",
            "What is the yearly limit for glasses or contact lenses under the medical expense tax credit?": (
                "50만원"
            ),
        }
        for question, fact in asked.items():
            answer = client.post("/v1/collections/tax-guide/query", json={"question": question}).json()
            assert answer["found"] is True, answer
            assert contains_number_phrase(answer["answer"], fact), answer["answer"]
            cited = [c["text"] for c in answer["citations"]]
            assert cited and any(contains_number_phrase(text, fact) for text in cited)
            assert not unsupported_numbers(answer["answer"], [*cited, question]), answer["answer"]
            assert not leaks(
                answer["answer"], [Passage(c["filename"], c["page"], c["text"]) for c in answer["citations"]]
            )
            # every [k] of the text names a citation, and every citation is used
            used = {int(k) for k in re.findall(r"\[(\d+)\]", answer["answer"])}
            assert used == set(range(1, len(answer["citations"]) + 1)), answer
        for question in (
            "자동차세를 1월에 연납하면 할인율이 몇 %인가요?",
            "Who won the 2022 FIFA World Cup?",
        ):
            answer = client.post("/v1/collections/tax-guide/query", json={"question": question}).json()
            assert answer["found"] is False and answer["citations"] == [], answer


def test_persistence_across_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    try:
        with _client(server) as client:
            client.post("/v1/collections", json={"name": "keep"})
            assert (
                _upload(client, "keep", "k.md", b"# Keys\n\nThe spare key hangs in cabinet 12.\n").status_code
                == 201
            )
    finally:
        server.stop()
    server = start_server(data)
    try:
        with _client(server) as client:
            answer = client.post(
                "/v1/collections/keep/query", json={"question": "Where does the spare key hang?"}
            ).json()
            assert answer["found"] is True and answer["citations"][0]["filename"] == "k.md"
    finally:
        server.stop()


def test_cli_ingest_and_ask(rag: ServerProcess, tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.support import base_env

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "wifi.md").write_text("# Wi-Fi\n\nThe guest Wi-Fi password is lantern-42.\n")
    (folder / "ignored.bin").write_bytes(b"\x00\x01")
    env = base_env(tmp_path / "cli-data")
    common = ["--url", rag.base_url, "--key", rag.api_key]
    run = subprocess.run(
        [sys.executable, "-m", "api.cli", "ingest", str(folder), "--collection", "cli", *common],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("1 indexed, 0 already there, 0 failed")
    again = subprocess.run(
        [sys.executable, "-m", "api.cli", "ingest", str(folder), "--collection", "cli", *common],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.stdout.startswith("0 indexed, 1 already there")
    asked = subprocess.run(
        [
            sys.executable,
            "-m",
            "api.cli",
            "ask",
            "What is the guest Wi-Fi password?",
            "--collection",
            "cli",
            *common,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert asked.returncode == 0, asked.stderr
    assert "[1] wifi.md" in asked.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "api.cli", "ask", "x", "--collection", "nope", *common],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode == 1 and missing.stderr.startswith("error: ")
