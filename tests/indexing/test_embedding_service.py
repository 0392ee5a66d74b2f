"""EmbeddingService: names, validation, batching, usage and concurrency, with the real bundled models
(and a small hand-written fake where a failure has to be staged)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest

from configs.settings import EmbedderSpec, EmbeddingSettings
from indexing.embedders import InputType, OpenAIEmbedder
from indexing.embedding_service import MAX_INPUTS, EmbeddingResult, EmbeddingService, build_embedder
from indexing.errors import EmbeddingBackendError, EmbeddingInputError, UnknownEmbeddingModel

E5 = "multilingual-e5-small"
MINILM = "all-minilm-l6-v2"


@pytest.fixture(scope="module")
def service() -> Iterator[EmbeddingService]:
    service = EmbeddingService(EmbeddingSettings())  # the defaults: e5 and MiniLM
    asyncio.run(service.preload())
    yield service
    service.close()


def embed(service: EmbeddingService, *args: Any, **kwargs: Any) -> EmbeddingResult:
    return asyncio.run(service.embed(*args, **kwargs))


def test_names_and_default(service: EmbeddingService) -> None:
    assert service.names() == [E5, MINILM]
    assert service.default_name == E5
    assert service.get(MINILM).name == MINILM
    with pytest.raises(UnknownEmbeddingModel) as caught:
        service.get("no-such-model")
    assert caught.value.param == "model" and "no-such-model" in caught.value.message


@pytest.mark.parametrize("model", [E5, MINILM])
def test_embed_one_string(service: EmbeddingService, model: str) -> None:
    result = embed(service, model, "the quick brown fox")
    assert result.model == model and result.dimensions == 384
    assert result.vectors.shape == (1, 384) and result.vectors.dtype == np.float32
    assert np.isclose(np.linalg.norm(result.vectors[0]), 1.0, atol=1e-5)
    assert result.prompt_tokens == service.get(model).count_tokens("the quick brown fox", "query") > 0


def test_usage_counts_only_what_the_model_saw(service: EmbeddingService) -> None:
    long_text = "word " * 5000
    result = embed(service, E5, [long_text, "short"], "passage")
    expected = 512 + service.get(E5).count_tokens("short", "passage")
    assert result.vectors.shape == (2, 384) and result.prompt_tokens == expected


def test_query_and_passage_differ_for_e5(service: EmbeddingService) -> None:
    query = embed(service, E5, "의료비 세액공제", "query").vectors[0]
    passage = embed(service, E5, "의료비 세액공제", "passage").vectors[0]
    assert not np.allclose(query, passage)


@pytest.mark.parametrize(
    "inputs",
    [[], "", [""], ["fine", ""], [1, 2, 3], ["fine", None], {"not": "a list"}, ["x"] * (MAX_INPUTS + 1)],
    ids=["empty-list", "empty-string", "empty-item", "empty-second", "tokens", "none", "dict", "too-many"],
)
def test_bad_inputs(service: EmbeddingService, inputs: Any) -> None:
    with pytest.raises(EmbeddingInputError) as caught:
        embed(service, E5, inputs)
    assert caught.value.param == "input"


def test_bad_input_type_and_dimensions(service: EmbeddingService) -> None:
    with pytest.raises(EmbeddingInputError) as caught:
        embed(service, E5, "x", "document")
    assert caught.value.param == "input_type"
    with pytest.raises(EmbeddingInputError) as caught:
        embed(service, E5, "x", dimensions=256)
    assert caught.value.param == "dimensions"
    assert embed(service, E5, "x", dimensions=384).dimensions == 384


def test_unknown_model(service: EmbeddingService) -> None:
    with pytest.raises(UnknownEmbeddingModel):
        embed(service, "text-embedding-3-large", "x")


def test_batches_match_one_by_one() -> None:
    settings = EmbeddingSettings(default="e5", models=[EmbedderSpec(name="e5", kind="e5", batch_size=2)])
    service = EmbeddingService(settings)
    try:
        texts = ["연말정산", "a short sentence", "a much longer sentence " * 10, "의료비 공제", "last"]
        batched = embed(service, "e5", texts, "passage")
        single = [embed(service, "e5", text, "passage") for text in texts]
        assert np.allclose(batched.vectors, np.concatenate([r.vectors for r in single]), atol=1e-4)
        assert batched.prompt_tokens == sum(r.prompt_tokens for r in single)
    finally:
        service.close()


def test_concurrent_requests_get_their_own_answers(service: EmbeddingService) -> None:
    requests = [
        (E5, ["연말정산 의료비 공제", "주식 시장"]),
        (MINILM, ["sourdough bread"]),
        (E5, ["hello"] * 40),
        (MINILM, ["electric cars", "charging stations", "batteries"]),
        (E5, ["passage one", "passage two", "passage three"]),
    ]
    expected = [embed(service, model, texts).vectors for model, texts in requests]

    async def all_at_once() -> list[EmbeddingResult]:
        return list(await asyncio.gather(*(service.embed(model, texts) for model, texts in requests)))

    results = asyncio.run(all_at_once())
    for (model, texts), result, want in zip(requests, results, expected, strict=True):
        assert result.model == model and result.vectors.shape == (len(texts), 384)
        assert np.allclose(result.vectors, want, atol=1e-4)


def test_the_model_runs_off_the_event_loop(service: EmbeddingService) -> None:
    async def scenario() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        task = asyncio.create_task(ticker())
        await service.embed(E5, ["a passage to embed, repeated"] * 64, "passage")
        task.cancel()
        return ticks

    assert asyncio.run(scenario()) > 3


# --- failures, staged with a small fake embedder ---------------------------------------------------------


class FakeEmbedder:
    """Counts characters; records the batches it was given; fails on request."""

    def __init__(self, name: str = "fake", fail_with: Exception | None = None) -> None:
        self.name = name
        self.dimensions = 4
        self.max_tokens = 8
        self.batches: list[list[str]] = []
        self.threads: set[str] = set()
        self.fail_with = fail_with
        self.closed = False

    def load(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    def embed(self, texts: Sequence[str], input_type: InputType) -> np.ndarray:
        self.threads.add(threading.current_thread().name)
        if self.fail_with is not None:
            raise self.fail_with
        self.batches.append(list(texts))
        rows = np.array([[len(t), 1.0, 0.0, 0.0] for t in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    def count_tokens(self, text: str, input_type: InputType = "passage") -> int:
        return len(text)

    def close(self) -> None:
        self.closed = True


def _fake_settings(batch_size: int = 3) -> EmbeddingSettings:
    return EmbeddingSettings(
        default="fake", models=[EmbedderSpec(name="fake", kind="e5", batch_size=batch_size)]
    )


def test_batches_are_spec_sized_and_ordered() -> None:
    fake = FakeEmbedder()
    service = EmbeddingService(_fake_settings(batch_size=3), {"fake": fake})
    texts = ["a" * n for n in range(1, 9)]
    result = embed(service, "fake", texts)
    assert [len(batch) for batch in fake.batches] == [3, 3, 2]
    assert result.vectors[:, 0].tolist() == pytest.approx([n / np.hypot(n, 1) for n in range(1, 9)])
    assert result.prompt_tokens == sum(min(n, 8) for n in range(1, 9))  # capped at max_tokens
    assert fake.threads == {"embed-fake_0"}  # one thread per model
    service.close()
    assert fake.closed


def test_embedder_failures_become_backend_errors() -> None:
    service = EmbeddingService(
        _fake_settings(), {"fake": FakeEmbedder(fail_with=RuntimeError("segfault-ish"))}
    )
    with pytest.raises(EmbeddingBackendError, match="segfault-ish"):
        embed(service, "fake", "x")
    with pytest.raises(EmbeddingBackendError, match="segfault-ish"):
        asyncio.run(service.preload())
    service.close()


def test_closed_service_refuses() -> None:
    service = EmbeddingService(_fake_settings(), {"fake": FakeEmbedder()})
    service.close()
    with pytest.raises(EmbeddingBackendError, match="shut down"):
        embed(service, "fake", "x")


def test_default_must_exist() -> None:
    with pytest.raises(UnknownEmbeddingModel):
        EmbeddingService(_fake_settings(), {"other": FakeEmbedder("other")})


def test_remote_specs() -> None:
    spec = EmbedderSpec(
        name="remote", kind="openai", api_base="http://127.0.0.1:9/v1", api_key_env="REMOTE_KEY"
    )
    settings = EmbeddingSettings(default="remote", models=[spec])
    service = EmbeddingService(settings, environ={"REMOTE_KEY": "sk-x"})
    assert isinstance(service.get("remote"), OpenAIEmbedder)
    service.close()
    with pytest.raises(EmbeddingBackendError, match=r"\$REMOTE_KEY"):
        EmbeddingService(settings, environ={})
    no_base = EmbeddingSettings(default="r", models=[EmbedderSpec(name="r", kind="openai")])
    with pytest.raises(EmbeddingBackendError, match="api_base"):
        EmbeddingService(no_base)


def test_num_threads_reaches_the_local_models() -> None:
    for kind in ("e5", "minilm"):
        embedder = build_embedder(EmbedderSpec(name=kind, kind=kind, num_threads=1), {})  # type: ignore[arg-type]
        assert embedder._num_threads == 1  # type: ignore[attr-defined]
    assert build_embedder(EmbedderSpec(name="e5", kind="e5"), {})._num_threads is None  # type: ignore[attr-defined]
