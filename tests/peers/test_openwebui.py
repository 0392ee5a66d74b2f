"""Open WebUI in front of Hearth: the real, unmodified Open WebUI server (its own venv under .venv-peers)
with Hearth's /v1 as its only OpenAI connection, driven through Open WebUI's own HTTP API.

Hearth's chat models and its RAG assistants (``assistant/<name>``) are Open WebUI models. An assistant's
answer keeps Hearth's citations on the way through, streamed or not: the ``citations`` field and the sources
list at the end of the text. In a chat, Open WebUI also stores them as the message's own sources (its source
chips): Hearth's last stream chunk carries Open WebUI's ``source`` event (api/assistant_chat.py), with
nothing to install in Open WebUI. One Open WebUI serves the module.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.assistant_chat import source_line
from indexing.answers import Citation
from inference import sse
from inference.language import detect_language
from tests.peers.conftest import peer_python, tail, wait_http
from tests.peers.openwebui_settings import SHARED_ENV, VERSION
from tests.support import OFFLINE_ENV, ServerProcess, free_port, stop_process

ASSISTANT = "assistant/manual-qa"
CHAT_MODEL = "qwen2.5-coder-1.5b-instruct"  # `default` in the test profile


@dataclass
class OpenWebUI:
    base_url: str
    http: httpx.Client  # signed in: Open WebUI's API wants a token even with WEBUI_AUTH=False
    log: Path
    start_s: float


def openwebui_env(hearth: ServerProcess, data_dir: Path) -> dict[str, str]:
    """Open WebUI's environment: the settings compose uses (SHARED_ENV), Hearth as its OpenAI connection,
    auth off and nothing that reaches the network."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEARTH_", "OPENAI_", "OLLAMA_"))}
    env.update(OFFLINE_ENV)
    env.update(SHARED_ENV)
    env.update(
        {
            "OPENAI_API_BASE_URL": hearth.v1,
            "OPENAI_API_KEY": hearth.api_key,
            "DATA_DIR": str(data_dir),
            "WEBUI_AUTH": "False",
            "WEBUI_SECRET_KEY": secrets.token_urlsafe(24),
            # OFFLINE_MODE already keeps these off; the default embedding model is not in the venv, so it
            # logs that it cannot load it (Open WebUI's own document uploads need it, these tests do not)
            "RAG_EMBEDDING_MODEL_AUTO_UPDATE": "false",
            "RAG_RERANKING_MODEL_AUTO_UPDATE": "false",
            # what the Open WebUI image sets: no telemetry from it or from chromadb
            "SCARF_NO_ANALYTICS": "true",
            "DO_NOT_TRACK": "true",
            "ANONYMIZED_TELEMETRY": "false",
        }
    )
    return env


@pytest.fixture(scope="module")
def openwebui(hearth_plain: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenWebUI]:
    python = peer_python("openwebui")
    workdir = tmp_path_factory.mktemp("openwebui")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = workdir / "openwebui.log"
    started = time.monotonic()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(python.parent / "open-webui"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir,
            env=openwebui_env(hearth_plain, workdir / "data"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_http(f"{base_url}/health", proc, log, timeout=300)
        start_s = time.monotonic() - started
        print(f"open-webui {VERSION} healthy in {start_s:.1f}s")  # shown with pytest -s
        # with auth off a sign-in ignores email and password: it is the admin, made on the first one
        signin = httpx.post(f"{base_url}/api/v1/auths/signin", json={"email": "", "password": ""}, timeout=60)
        assert signin.status_code == 200, signin.text
        headers = {"authorization": f"Bearer {signin.json()['token']}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=600) as http:
            yield OpenWebUI(base_url, http, log, start_s)
    finally:
        stop_process(proc)


def hearth_models(hearth: ServerProcess) -> set[str]:
    response = httpx.get(f"{hearth.v1}/models", headers={"authorization": f"Bearer {hearth.api_key}"})
    response.raise_for_status()
    return {model["id"] for model in response.json()["data"]}


def sources_list(citations: list[dict[str, Any]], heading: str) -> str:
    """The sources Hearth appends to an assistant's answer, one line per citation (api/assistant_chat.py)."""
    lines = [source_line(Citation(index=n, **c)) for n, c in enumerate(citations, 1)]
    return f"\n\n{heading}\n" + "\n".join(lines)


def test_openwebui_lists_hearths_models_and_assistants(
    openwebui: OpenWebUI, hearth_plain: ServerProcess
) -> None:
    version = openwebui.http.get("/api/version")
    assert version.json()["version"] == VERSION, "compose runs the release tests/peers proves"
    assert httpx.get(f"{openwebui.base_url}/api/models").status_code == 401, "auth off still wants a token"

    response = openwebui.http.get("/api/models")
    assert response.status_code == 200, response.text
    models = {model["id"]: model for model in response.json()["data"]}
    assert {CHAT_MODEL, "default", ASSISTANT, "assistant/tax-kr"} <= models.keys()
    assert hearth_models(hearth_plain) <= models.keys(), "every Hearth model is an Open WebUI model"
    assert models[ASSISTANT]["connection_type"] == "external"


def test_assistant_answer_through_openwebui_carries_citations(openwebui: OpenWebUI) -> None:
    question = "How many days of annual leave do I get after one year of service?"
    response = openwebui.http.post(
        "/api/chat/completions",
        json={"model": ASSISTANT, "stream": False, "messages": [{"role": "user", "content": question}]},
    )
    assert response.status_code == 200, f"{response.text}\n{tail(openwebui.log)}"
    body = response.json()
    assert body["model"] == ASSISTANT
    content = body["choices"][0]["message"]["content"]
    assert body["choices"][0]["finish_reason"] == "stop"
    # Hearth's own field arrives untouched
    assert body["found"] is True
    citations = body["citations"]
    assert citations and {c["filename"] for c in citations} <= {"manual-en.md", "manual-ko.md"}
    assert any("15 days of annual leave" in c["text"] for c in citations), citations
    # and the sources list at the end of the text, one line per citation, in order
    assert content.endswith(sources_list(citations, "Sources:")), content
    assert len(content) > len(sources_list(citations, "Sources:")), "an answer before the sources"
    assert body["usage"]["prompt_tokens"] > 0 and body["usage"]["completion_tokens"] > 0


def test_streamed_assistant_answer_through_openwebui_carries_citations(openwebui: OpenWebUI) -> None:
    question = "입사 1년이 지나면 연차휴가는 며칠인가요?"
    payload = {"model": ASSISTANT, "stream": True, "messages": [{"role": "user", "content": question}]}
    with openwebui.http.stream("POST", "/api/chat/completions", json=payload) as response:
        assert response.status_code == 200, f"{response.read()!r}\n{tail(openwebui.log)}"
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = list(response.iter_lines())
    chunks = sse.parse_events(lines, raise_errors=False)
    done = any(sse.is_done(line) for line in lines)
    assert done, "the stream ends with [DONE]"
    assert not [chunk for chunk in chunks if "error" in chunk], chunks

    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    # the citations are known once the answer is written: they come in the last chunk, with its finish reason
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "stop" and last["found"] is True
    assert not [chunk for chunk in chunks[:-1] if "citations" in chunk]
    citations = last["citations"]
    assert citations and {c["filename"] for c in citations} <= {"manual-en.md", "manual-ko.md"}
    assert any("15일" in c["text"] for c in citations), citations
    # beside them, Open WebUI's source event, one document per citation
    assert last["event"]["type"] == "source"
    assert [m["file"] for m in last["event"]["data"]["metadata"]] == [c["filename"] for c in citations]

    deltas = [chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks if chunk["choices"]]
    # the answer's checked sentences (indexing/grounding.py), then the sources with the finish reason
    assert any(deltas[:-1]) and deltas[-1].startswith("\n\n"), deltas
    content = "".join(deltas)
    # the sources list is headed in the answer's language (a Korean question's, when the answer says neither)
    headed = {
        h: sources_list(citations, h)
        for h in ("출처:", "Sources:")
        if content.endswith(sources_list(citations, h))
    }
    assert len(headed) == 1, content
    ((heading, footer),) = headed.items()
    language = detect_language(content.removesuffix(footer))
    assert heading == ("Sources:" if language == "en" else "출처:"), content


def test_openwebui_titles_chats_with_the_plain_chat_model(openwebui: OpenWebUI) -> None:
    """TASK_MODEL_EXTERNAL=default: a chat with an assistant gets its title from the chat model, not from a
    retrieval over the manual."""
    messages = [
        {"role": "user", "content": "How many days of annual leave do I get after one year of service?"},
        {"role": "assistant", "content": "You receive 15 days of annual leave [1]."},
    ]
    response = openwebui.http.post(
        "/api/v1/tasks/title/completions", json={"model": ASSISTANT, "messages": messages}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == CHAT_MODEL, body
    assert "citations" not in body
    assert body["choices"][0]["message"]["content"].strip()


def test_a_chat_with_an_assistant_stores_hearths_citations_as_its_sources(openwebui: OpenWebUI) -> None:
    """What the chat view does: a new chat, its answer streamed into the stored message in the background.
    The message gets Hearth's citations as Open WebUI's own sources (the chips under the answer, which its
    [k] markers open), and the chat a title from the task model (`default`) in the question's language: the
    old 0.5B `default` titled a 월세 question "Stock Trends", the first example of Open WebUI's title prompt.
    """
    question = "입사 1년이 지나면 연차휴가는 며칠인가요?"
    user_id, answer_id = str(uuid.uuid4()), str(uuid.uuid4())
    user_message = {
        "id": user_id,
        "parentId": None,
        "childrenIds": [answer_id],
        "role": "user",
        "content": question,
        "timestamp": int(time.time()),
        "models": [ASSISTANT],
    }
    response = openwebui.http.post(
        "/api/chat/completions",
        json={
            "model": ASSISTANT,
            "stream": True,
            "messages": [{"role": "user", "content": question}],
            "parent_id": None,  # a new chat
            "user_message": user_message,
            "id": answer_id,
            "session_id": "hearth-peers",  # with a chat: answered in the background, as the chat view is
            "background_tasks": {"title_generation": True},
        },
    )
    assert response.status_code == 200, f"{response.text}\n{tail(openwebui.log)}"
    chat_id = response.json()["chat_id"]

    deadline = time.monotonic() + 600
    while True:
        chat = openwebui.http.get(f"/api/v1/chats/{chat_id}").json()
        message = chat["chat"]["history"]["messages"].get(answer_id) or {}
        if message.get("done") and chat["title"] != "New Chat":
            break
        assert time.monotonic() < deadline, f"{chat}\n{tail(openwebui.log)}"
        time.sleep(2)
    assert not message.get("error"), message["error"]
    assert "출처:" in message["content"] or "Sources:" in message["content"], message["content"]

    # one source per citation, in marker order, named by file, page and heading, with the quoted sentence
    documents = [
        (meta, document)
        for source in message.get("sources") or []
        for meta, document in zip(source["metadata"], source["document"], strict=True)
    ]
    assert documents, f"no sources on the stored message: {message}"
    assert len({meta["source"] for meta, _ in documents}) == len(documents), "one source per citation"
    footer = message["content"].rsplit("\n\n", 1)[1].splitlines()[1:]
    assert len(footer) == len(documents), (footer, documents)
    for n, (meta, document) in enumerate(documents, 1):
        assert meta["file"] in {"manual-en.md", "manual-ko.md"}
        assert meta["name"].startswith(meta["file"]) and footer[n - 1].startswith(f"[{n}] {meta['name']}")
        assert meta["quote"] and document.startswith(f"> {meta['quote']}")
    assert any("15일" in document for _, document in documents), documents

    # the title: Korean, like the question, or sharing one of its words
    title = chat["title"]
    words = set(re.findall(r"\w{2,}", question))
    assert detect_language(title) == "ko" or words & set(re.findall(r"\w{2,}", title)), title
