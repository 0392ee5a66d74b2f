"""The embedding models by name, run off the event loop: what /v1/embeddings and indexing call.

Each embedder gets its own single-thread executor, so concurrent requests for one model queue behind each
other (in batches of the model's ``batch_size``, interleaving fairly) instead of oversubscribing the CPU,
while different models still run side by side.

With a cache, each input's vector (float32 bytes, after its token count) is kept under the embedder's name,
the input type and the text's SHA-256: a request fetches what is cached with one MGET and embeds the rest.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import struct
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from configs.settings import EmbedderSpec, EmbeddingSettings
from indexing.embedders import (
    E5Embedder,
    Embedder,
    InputType,
    OpenAIEmbedder,
    SentenceTransformerEmbedder,
    minilm_path,
)
from indexing.errors import EmbeddingBackendError, EmbeddingInputError, IndexingError, UnknownEmbeddingModel
from inference.cache import PREFIX, ResponseCache

log = logging.getLogger("hearth.embeddings")

MAX_INPUTS = 2048
DEFAULT_BATCH_SIZE = 32
REMOTE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class EmbeddingResult:
    vectors: np.ndarray  # (n, dimensions) float32, unit rows, in input order
    prompt_tokens: int  # tokens the model processed (after truncation)
    model: str
    dimensions: int
    cached: int = 0  # how many of the inputs came from the cache


@runtime_checkable
class _Closeable(Protocol):
    def close(self) -> None: ...


def build_embedder(spec: EmbedderSpec, environ: Mapping[str, str]) -> Embedder:
    """One embedder from its spec; cheap (nothing loads). Raises EmbeddingBackendError on a bad spec."""
    if spec.kind == "e5":
        return E5Embedder(spec.name, model_path=spec.path, num_threads=spec.num_threads)
    if spec.kind == "minilm":
        return SentenceTransformerEmbedder(
            spec.path or minilm_path(), spec.name, num_threads=spec.num_threads
        )
    if spec.kind == "sentence-transformers":
        if not spec.path:
            raise EmbeddingBackendError(
                f"the embedding model '{spec.name}' (kind sentence-transformers) needs a path to its folder"
            )
        return SentenceTransformerEmbedder(spec.path, spec.name, num_threads=spec.num_threads)
    if not spec.api_base:
        raise EmbeddingBackendError(f"the embedding model '{spec.name}' (kind openai) needs an api_base")
    api_key = None
    if spec.api_key_env:
        api_key = environ.get(spec.api_key_env)
        if not api_key:
            raise EmbeddingBackendError(
                f"the embedding model '{spec.name}' reads its API key from ${spec.api_key_env}: set it"
            )
    return OpenAIEmbedder(
        spec.api_base, spec.remote_model or spec.name, api_key, REMOTE_TIMEOUT_S, name=spec.name
    )


class EmbeddingService:
    """Embedders by name. ``embedders`` replaces the ones built from ``settings.models`` (tests);
    ``environ`` supplies the remote API keys named by ``api_key_env`` (pass ``os.environ``)."""

    def __init__(
        self,
        settings: EmbeddingSettings,
        embedders: Mapping[str, Embedder] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        cache: ResponseCache | None = None,
    ) -> None:
        self._cache = cache if cache is not None and cache.enabled else None
        specs = {spec.name: spec for spec in settings.models}
        if embedders is None:
            embedders = {name: build_embedder(spec, environ or {}) for name, spec in specs.items()}
        if settings.default not in embedders:
            raise UnknownEmbeddingModel(settings.default)
        self._embedders = dict(embedders)
        self._batch_sizes = {
            name: max(1, specs[name].batch_size if name in specs else DEFAULT_BATCH_SIZE)
            for name in self._embedders
        }
        self._executors = {
            name: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"embed-{name}")
            for name in self._embedders
        }
        self._closed = False
        self.default_name = settings.default

    def names(self) -> list[str]:
        return list(self._embedders)

    def get(self, name: str) -> Embedder:
        try:
            return self._embedders[name]
        except KeyError:
            raise UnknownEmbeddingModel(name) from None

    async def embed(
        self,
        model: str,
        inputs: str | Sequence[str],
        input_type: InputType = "query",
        *,
        dimensions: int | None = None,
    ) -> EmbeddingResult:
        """Embed one string or a list of strings with ``model``; rows come back in input order.

        Raises UnknownEmbeddingModel, EmbeddingInputError (no inputs, an empty or non-string input, more
        than MAX_INPUTS, ``dimensions`` other than the model's own) or EmbeddingBackendError.
        """
        embedder = self.get(model)
        texts = _validate(inputs)
        if input_type not in ("query", "passage"):
            raise EmbeddingInputError(
                f"input_type must be 'query' or 'passage', not {input_type!r}", param="input_type"
            )
        if dimensions is not None:
            native = await self._run(model, _dimensions_of, embedder)  # may load the model
            if dimensions != native:
                raise EmbeddingInputError(
                    f"'{model}' produces {native}-dimensional embeddings; dimensions={dimensions} "
                    "is not supported",
                    param="dimensions",
                )
        if self._cache is None:
            vectors, tokens = await self._embed(model, embedder, texts, input_type)
            return EmbeddingResult(vectors, sum(tokens), model, int(vectors.shape[1]))
        keys = [_cache_key(model, input_type, text) for text in texts]
        found = [_unpack(value) for value in await self._cache.get_many(keys)]
        missing = [i for i, entry in enumerate(found) if entry is None]
        if missing:
            vectors, tokens = await self._embed(model, embedder, [texts[i] for i in missing], input_type)
            fresh = {keys[i]: _pack(vectors[n], tokens[n]) for n, i in enumerate(missing)}
            await self._cache.set_many(fresh, self._cache.settings.embeddings_ttl_s)
            for n, i in enumerate(missing):
                found[i] = (vectors[n], tokens[n])
        rows = [entry for entry in found if entry is not None]
        stacked = np.stack([row[0] for row in rows]).astype(np.float32, copy=False)
        return EmbeddingResult(
            stacked, sum(row[1] for row in rows), model, int(stacked.shape[1]), len(texts) - len(missing)
        )

    async def _embed(
        self, model: str, embedder: Embedder, texts: list[str], input_type: InputType
    ) -> tuple[np.ndarray, list[int]]:
        batch_size = self._batch_sizes[model]
        batches = [texts[i : i + batch_size] for i in range(0, len(texts), batch_size)]
        # one executor job per batch: a big request does not hold the model while small ones wait
        parts = [await self._run(model, _embed_batch, embedder, batch, input_type) for batch in batches]
        vectors = parts[0][0] if len(parts) == 1 else np.concatenate([part[0] for part in parts])
        return vectors, [n for part in parts for n in part[1]]

    async def preload(self) -> None:
        """Load every model now (each on its own executor); logs each failure and raises the first."""
        names = self.names()
        results = await asyncio.gather(
            *(self._run(name, self._embedders[name].load) for name in names), return_exceptions=True
        )
        failures = [(name, r) for name, r in zip(names, results, strict=True) if isinstance(r, BaseException)]
        for name, exc in failures:
            log.error("embedding model %s failed to load: %s", name, exc)
        if failures:
            raise failures[0][1]
        log.info("embedding models loaded: %s", ", ".join(names))

    def close(self) -> None:
        """Stop the executors (a batch already running finishes) and close remote clients."""
        self._closed = True
        for executor in self._executors.values():
            executor.shutdown(wait=False, cancel_futures=True)
        for embedder in self._embedders.values():
            if isinstance(embedder, _Closeable):
                embedder.close()

    async def _run(self, model: str, fn: Any, *args: Any) -> Any:
        if self._closed:
            raise EmbeddingBackendError("the embedding service is shut down")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executors[model], fn, *args)
        except IndexingError:
            raise
        except RuntimeError as exc:
            if self._closed:  # the executor refused the job
                raise EmbeddingBackendError("the embedding service is shut down") from exc
            raise EmbeddingBackendError(f"the embedding model '{model}' failed: {exc}") from exc
        except Exception as exc:
            raise EmbeddingBackendError(f"the embedding model '{model}' failed: {exc}") from exc


def _dimensions_of(embedder: Embedder) -> int:
    return embedder.dimensions


def _cache_key(model: str, input_type: str, text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{PREFIX}emb:{model}:{input_type}:{digest}"


def _pack(vector: np.ndarray, tokens: int) -> bytes:
    return struct.pack("<I", tokens) + np.asarray(vector, dtype="<f4").tobytes()


def _unpack(value: bytes | None) -> tuple[np.ndarray, int] | None:
    if value is None or len(value) < 8 or (len(value) - 4) % 4:
        return None
    return np.frombuffer(value, dtype="<f4", offset=4), struct.unpack_from("<I", value)[0]


def _embed_batch(embedder: Embedder, texts: list[str], input_type: InputType) -> tuple[np.ndarray, list[int]]:
    """Runs on the model's executor: the vectors and the tokens the model processed for each text."""
    vectors = embedder.embed(texts, input_type)
    if vectors.shape[0] != len(texts):
        raise EmbeddingBackendError(
            f"the embedding model '{embedder.name}' returned {vectors.shape[0]} vectors "
            f"for {len(texts)} inputs"
        )
    limit = embedder.max_tokens
    return vectors, [_processed_tokens(embedder, text, input_type, limit) for text in texts]


def _processed_tokens(embedder: Embedder, text: str, input_type: InputType, limit: int) -> int:
    # a huge input is truncated by the model, so counting all of it would only waste time: count a head
    # that nearly always holds more than `limit` tokens, and the whole text only when it does not
    head = limit * 16
    count = embedder.count_tokens(text[:head], input_type)
    if count < limit and len(text) > head:
        count = embedder.count_tokens(text, input_type)
    return min(count, limit)


def _validate(inputs: object) -> list[str]:
    if isinstance(inputs, str):
        texts: list[Any] = [inputs]
    elif isinstance(inputs, list | tuple):
        texts = list(inputs)
    else:
        raise EmbeddingInputError("input must be a string or a list of strings", param="input")
    if not texts:
        raise EmbeddingInputError("input must not be empty", param="input")
    if len(texts) > MAX_INPUTS:
        raise EmbeddingInputError(
            f"input holds {len(texts)} items; at most {MAX_INPUTS} may be embedded at once", param="input"
        )
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise EmbeddingInputError(
                f"input[{i}] is a {type(text).__name__}: only strings are supported (no token arrays)",
                param="input",
            )
        if not text:
            raise EmbeddingInputError(f"input[{i}] is an empty string", param="input")
    return texts
