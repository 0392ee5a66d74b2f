"""CleanText, SentenceChunker and the ingestion pipeline, sized with the real e5 and MiniLM tokenizers."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pymupdf
import pytest
from llama_index.core.schema import Document, TextNode

from indexing.chunking import CleanText, SentenceChunker, clean_text, split_sentences
from indexing.embedders import E5Embedder, Embedder, InputType, SentenceTransformerEmbedder, minilm_path
from indexing.loaders import load_document
from indexing.pipeline import build_ingestion_pipeline, chunk_document, nodes_to_chunks
from indexing.types import chunk_id

KO_GUIDE = """# 연말정산

연말정산은 근로자가 1년 동안 낸 세금을 다시 계산하는 절차입니다. 회사가 근로자 대신 신고합니다.

## 의료비

의료비는 총급여의 3%를 초과하는 금액에 대해 15%를 세액공제합니다. 난임시술비는 30%를 공제합니다.
미숙아와 선천성 이상아의 의료비는 20%를 공제합니다. 본인과 65세 이상 부양가족의 의료비는 한도가 없습니다.
그 밖의 부양가족 의료비는 연 700만원까지 공제됩니다. 실손보험금으로 받은 금액은 빼야 해요. 정말인가요? 네!

## 신용카드 등 소득공제

신용카드 사용액이 총급여의 25%를 넘으면 초과분의 15%를 공제합니다. 체크카드와 현금영수증은 30%입니다.
전통시장과 대중교통 사용분은 40%가 적용됩니다. 기본 한도는 총급여에 따라 200만원에서 300만원입니다.
"""

EN_TEXT = " ".join(
    f"Sentence number {i} explains how annual leave accrues for employees in department {i}."
    for i in range(1, 41)
)


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
def counter(request: pytest.FixtureRequest) -> Callable[[str], int]:
    embedder: Embedder = request.getfixturevalue(request.param)
    return lambda text: embedder.count_tokens(text, "passage")


def chunk(
    text: str, count: Callable[[str], int], size: int = 64, overlap: int = 16, heading_prefix: bool = True
) -> list:
    nodes = CleanText()([Document(text=text, metadata={"document_id": "d" * 64, "filename": "f"})])
    chunker = SentenceChunker(
        count_tokens=count, chunk_tokens=size, overlap_tokens=overlap, heading_prefix=heading_prefix
    )
    return list(chunker(nodes))


def test_clean_text() -> None:
    raw = "Cafe\u0301 is\u00a0here.\x07 The treat-\nment works\u200b.\n\n\n\nNext   paragraph.\r\n"
    cleaned = clean_text(raw)
    assert "Café" in cleaned  # NFC composed the accent
    assert "treatment works." in cleaned
    assert "\x07" not in cleaned and "\u200b" not in cleaned and "\u00a0" not in cleaned
    assert "\n\nNext paragraph." in cleaned and "\n\n\n" not in cleaned


def test_clean_text_drops_running_headers_and_page_numbers() -> None:
    pages = [
        Document(
            text=f"ACME Handbook 2024\nBody of page {n} is here.\n{n}",
            metadata={"page": n, "document_id": "x"},
        )
        for n in range(1, 5)
    ]
    cleaned = CleanText()(pages)
    for n, node in enumerate(cleaned, start=1):
        text = node.get_content()
        assert text == f"Body of page {n} is here."


def test_sentences_korean_and_english() -> None:
    ko = "의료비는 15%를 공제합니다. 난임시술비는 30%입니다 미숙아는 20%예요. 정말인가요? 네!"
    assert split_sentences(ko) == [
        "의료비는 15%를 공제합니다.",
        "난임시술비는 30%입니다",
        "미숙아는 20%예요.",
        "정말인가요?",
        "네!",
    ]
    en = "We saw it (Fig. 2). Dr. Smith et al. agreed, e.g. in mice. Is it true? Yes."
    assert split_sentences(en) == [
        "We saw it (Fig. 2).",
        "Dr. Smith et al. agreed, e.g. in mice.",
        "Is it true?",
        "Yes.",
    ]


@pytest.mark.parametrize("size", [32, 64, 128])
def test_chunks_fit_the_embedders_token_limit(counter: Callable[[str], int], size: int) -> None:
    for text in (KO_GUIDE, EN_TEXT):
        nodes = chunk(text, counter, size=size, overlap=size // 4)
        assert len(nodes) > 1
        for node in nodes:
            assert counter(node.text) <= size, node.text


def test_korean_sentences_are_never_cut(counter: Callable[[str], int]) -> None:
    sentences = {
        s for line in KO_GUIDE.splitlines() if not line.startswith("#") for s in split_sentences(line)
    }
    # 128: MiniLM spends up to 72 tokens on one Korean sentence of the guide (e5 about 30)
    for node in chunk(KO_GUIDE, counter, size=128, overlap=12):
        body = node.text.split("\n", 1)[1]  # the first line is the heading path
        for piece in split_sentences(body.replace("\n", " ")):
            assert piece in sentences, piece


def test_english_chunks_end_at_sentence_ends(counter: Callable[[str], int]) -> None:
    for node in chunk(EN_TEXT, counter, size=64, overlap=16):
        assert node.text.startswith("Sentence number ")
        assert node.text.endswith(".")


def test_overlap_repeats_whole_trailing_sentences(counter: Callable[[str], int]) -> None:
    nodes = chunk(EN_TEXT, counter, size=64, overlap=24)
    for before, after in zip(nodes, nodes[1:], strict=False):
        first = split_sentences(after.text)[0]
        assert first in split_sentences(before.text)  # the next chunk opens with the previous one's tail
        assert counter(first) - counter("") <= 24
    no_overlap = chunk(EN_TEXT, counter, size=64, overlap=0)
    joined = " ".join(node.text for node in no_overlap)
    assert joined == EN_TEXT


def test_heading_path_metadata_and_prefix(counter: Callable[[str], int]) -> None:
    nodes = chunk(KO_GUIDE, counter, size=192, overlap=8)  # the path line fits in a quarter of a chunk
    headings = [node.metadata["heading"] for node in nodes]
    assert headings[0] == "연말정산"
    assert "연말정산 > 의료비" in headings and "연말정산 > 신용카드 등 소득공제" in headings
    for node in nodes:
        assert node.text.startswith(node.metadata["heading"] + "\n")
        assert node.metadata["language"] == "ko"
    assert [node.metadata["chunk_index"] for node in nodes] == list(range(len(nodes)))
    # sections are chunked apart: no chunk mixes 의료비 and 신용카드 text
    assert not any("난임" in node.text and "체크카드" in node.text for node in nodes)


def test_long_heading_path_shortens_to_the_last_heading(e5: E5Embedder) -> None:
    nodes = chunk(KO_GUIDE, lambda t: e5.count_tokens(t), size=20, overlap=0)
    medical = [node for node in nodes if node.metadata["heading"] == "연말정산 > 의료비"]
    assert medical and all(node.text.startswith("의료비\n") for node in medical)


def test_heading_prefix_off_keeps_markdown_headings(counter: Callable[[str], int]) -> None:
    nodes = chunk(KO_GUIDE, counter, size=256, overlap=0, heading_prefix=False)
    assert nodes[1].text.startswith("## 의료비\n")
    assert nodes[1].metadata["heading"] == "연말정산 > 의료비"


def test_a_sentence_longer_than_the_limit_is_split_by_tokens(counter: Callable[[str], int]) -> None:
    long_sentence = " ".join(["token"] * 300) + "."
    nodes = chunk(long_sentence, counter, size=40, overlap=8)
    assert len(nodes) > 5
    assert all(counter(node.text) <= 40 for node in nodes)
    assert "".join(node.text.replace(" ", "") for node in nodes).count("token") >= 300


def test_chunking_is_deterministic(e5: E5Embedder) -> None:
    def count(text: str) -> int:
        return e5.count_tokens(text, "passage")

    first = [(n.node_id, n.text, n.metadata) for n in chunk(KO_GUIDE + EN_TEXT, count)]
    second = [(n.node_id, n.text, n.metadata) for n in chunk(KO_GUIDE + EN_TEXT, count)]
    assert first == second


def test_pdf_pages_keep_their_page_numbers(e5: E5Embedder) -> None:
    pdf = pymupdf.open()
    for text in ("First page about annual leave. " * 12, "둘째 쪽은 연차 휴가에 관한 내용입니다. " * 12):
        page = pdf.new_page()
        font = "korea" if "쪽" in text else "helv"
        assert page.insert_textbox(pymupdf.Rect(50, 50, 550, 800), text, fontname=font, fontsize=11) >= 0
    loaded = load_document(pdf.tobytes(), "leave.pdf", max_bytes=1 << 20)
    nodes = chunk_nodes(loaded.documents, e5)
    pages = {node.metadata["page"]: node.metadata["language"] for node in nodes}
    assert pages == {1: "en", 2: "ko"}
    assert all(e5.count_tokens(node.text) <= 48 for node in nodes)


def chunk_nodes(documents: Sequence[Document], embedder: Embedder) -> list:
    cleaned = CleanText()(documents)
    chunker = SentenceChunker(count_tokens=embedder.count_tokens, chunk_tokens=48, overlap_tokens=8)
    return list(chunker(cleaned))


class CountingEmbedder:
    """A fake of the Embedder protocol: word counts for tokens, a vector per text, calls recorded."""

    name = "fake"
    dimensions = 4
    max_tokens = 64

    def __init__(self) -> None:
        self.calls: list[tuple[int, InputType]] = []

    def load(self) -> None:
        pass

    def count_tokens(self, text: str, input_type: InputType = "passage") -> int:
        return len(text.split()) + 2

    def embed(self, texts: Sequence[str], input_type: InputType) -> np.ndarray:
        self.calls.append((len(texts), input_type))
        vectors = np.array([[len(t), 1.0, 0.0, 0.0] for t in texts], dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_pipeline_embeds_in_batches_with_progress() -> None:
    embedder = CountingEmbedder()
    seen: list[tuple[int, int]] = []
    loaded = load_document(KO_GUIDE.encode(), "guide.md", max_bytes=1 << 20)
    pipeline = build_ingestion_pipeline(
        embedder, chunk_tokens=512, overlap_tokens=4, embed_batch=2, progress=lambda d, t: seen.append((d, t))
    )
    pairs = chunk_document(loaded, pipeline)
    total = len(pairs)
    assert total >= 3
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    assert all(n <= 2 and kind == "passage" for n, kind in embedder.calls)
    for index, (chunk_, vector) in enumerate(pairs):
        assert chunk_.id == chunk_id(loaded.document_id, index) and chunk_.index == index
        assert chunk_.document_id == loaded.document_id and chunk_.filename == "guide.md"
        assert chunk_.language == "ko" and chunk_.heading and chunk_.page is None
        assert len(vector) == 4
        assert embedder.count_tokens(chunk_.text) <= embedder.max_tokens  # chunk size capped at max_tokens


def test_nodes_to_chunks_keeps_page_and_heading() -> None:
    node = TextNode(text="body", metadata={"page": 3, "heading": "A > B", "language": "en"})
    (converted,) = nodes_to_chunks("f" * 64, "x.pdf", [node])
    assert (converted.page, converted.heading, converted.language, converted.index) == (3, "A > B", "en", 0)
