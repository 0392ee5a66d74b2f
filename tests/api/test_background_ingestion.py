"""Issue 3: a large upload is indexed in the background: 202 at once, then GET on the document shows its
status and progress until it is indexed, and only then do its chunks answer queries. The server here treats
uploads over 4 KB as large, so a modest file takes that path."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support import ServerProcess, start_server

pytestmark = pytest.mark.slow

CITIES = (
    "Seoul Busan Incheon Daegu Daejeon Gwangju Ulsan Suwon Changwon Goyang Yongin Seongnam Bucheon Cheongju "
    "Ansan Jeonju Cheonan Namyangju Hwaseong Gimhae Pohang Jeju Gangneung Sokcho Tokyo Osaka Singapore Hanoi "
    "Taipei Bangkok Sydney London Paris Berlin Madrid Rome Toronto Chicago Boston Denver"
).split()


def section(n: int, city: str) -> str:
    return (
        f"## {city}\n\nFor business trips to {city}, the daily meal allowance is {20_000 + n * 1_000:,} won "
        f"and hotels are booked up to {80_000 + n * 3_000:,} won a night. The local contact for {city} is "
        f"desk{n}@hearth.example; taxis in {city} are reimbursed only with a receipt.\n\n"
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"HEARTH_INGESTION__BACKGROUND_OVER_KB": "4", "HEARTH_CACHE__ENABLED": "false"}
    proc = start_server(tmp_path_factory.mktemp("background") / "data", env=env)
    yield proc
    proc.stop()


def test_a_large_upload_is_indexed_in_the_background_with_progress(server: ServerProcess) -> None:
    headers = {"authorization": f"Bearer {server.api_key}"}
    body = "".join(section(n, city) for n, city in enumerate(CITIES, 1)).encode()
    assert len(body) > 4 * 1024
    with httpx.Client(base_url=server.v1, headers=headers, timeout=120) as http:
        http.post("/collections", json={"name": "travel"}).raise_for_status()
        upload = http.post("/collections/travel/documents", files={"file": ("travel.txt", body)})
        assert upload.status_code == 202, upload.text
        accepted = upload.json()
        assert accepted["status"] in {"queued", "indexing"}
        document = f"/collections/travel/documents/{accepted['document_id']}"

        seen: list[tuple[str, float]] = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            state = http.get(document).json()
            seen.append((state["status"], state["progress"]))
            if state["status"] in {"indexed", "failed"}:
                break
            time.sleep(0.05)
        assert state["status"] == "indexed", (state, seen)
        assert state["progress"] == 1.0 and state["chunks"] > 1 and state["error"] is None
        progress = [p for _, p in seen]
        assert progress == sorted(progress), seen  # it only moves forward
        assert any(status != "indexed" for status, _ in seen), "the upload was indexed before it answered"

        listed = http.get("/collections/travel/documents").json()["data"]
        assert [d["status"] for d in listed] == ["indexed"]
        answer = http.post(
            "/collections/travel/query",
            json={"question": "What is the daily meal allowance for a trip to Busan?"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["found"] is True
        citations = answer.json()["citations"]
        assert {c["filename"] for c in citations} == {"travel.txt"}
        assert "Busan" in citations[0]["text"]
        # the same bytes again: no second background job, no duplicate chunks
        again = http.post("/collections/travel/documents", files={"file": ("travel.txt", body)})
        assert again.status_code == 200, again.text
        assert again.json()["duplicate"] is True and again.json()["chunks"] == state["chunks"]
