"""Layered settings: YAML profile on top of the default, environment on top of both."""

from __future__ import annotations

import pytest

from configs.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("HEARTH_"):
            monkeypatch.delenv(key)


def test_default_profile() -> None:
    settings = load_settings()
    assert settings.profiles == [] and settings.engine.enabled and settings.server.port == 8000
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith("hearth.db")


def test_profile_layers_and_env_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARTH_PROFILES", "cpu")
    monkeypatch.setenv("HEARTH_REDIS__URL", "redis://elsewhere:6379/1")
    monkeypatch.setenv("HEARTH_API_KEYS", "k1, k2")
    settings = load_settings()
    assert settings.profiles == ["cpu"]
    assert settings.engine.enabled is False  # from settings-cpu.yaml
    assert settings.database_url.startswith("postgresql+psycopg://")  # from settings-cpu.yaml
    assert settings.redis.url == "redis://elsewhere:6379/1"  # env beats the profile
    assert settings.api_keys == ["k1", "k2"]
    assert settings.server.port == 8000  # untouched keys keep the default profile's value


def test_unknown_profile_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARTH_PROFILES", "nope")
    with pytest.raises(SettingsError, match="settings-nope.yaml"):
        load_settings()


def test_invalid_values_fail_fast_with_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARTH_ENGINE__PORT", "8000")
    with pytest.raises(ValueError, match="HEARTH_ENGINE__PORT"):
        load_settings()
    monkeypatch.delenv("HEARTH_ENGINE__PORT")
    monkeypatch.setenv("HEARTH_EMBEDDINGS__DEFAULT", "missing-model")
    with pytest.raises(ValueError, match="HEARTH_EMBEDDINGS__DEFAULT"):
        load_settings()


def test_min_dense_score_is_per_embedder_and_env_overridable(monkeypatch: pytest.MonkeyPatch) -> None:
    retrieval = load_settings().retrieval
    assert retrieval.dense_threshold("multilingual-e5-small") == 0.86
    assert retrieval.dense_threshold("all-minilm-l6-v2") < 0.6  # MiniLM's cosines sit far lower than e5's
    assert retrieval.dense_threshold("unknown-model") == retrieval.min_dense_score["default"]
    # a JSON mapping changes the embedders it names and keeps the others
    monkeypatch.setenv("HEARTH_RETRIEVAL__MIN_DENSE_SCORE", '{"all-minilm-l6-v2": 0.5}')
    retrieval = load_settings().retrieval
    assert retrieval.dense_threshold("all-minilm-l6-v2") == 0.5
    assert retrieval.dense_threshold("multilingual-e5-small") == 0.86
    # one number sets them all
    monkeypatch.setenv("HEARTH_RETRIEVAL__MIN_DENSE_SCORE", "0.7")
    retrieval = load_settings().retrieval
    assert retrieval.dense_threshold("all-minilm-l6-v2") == retrieval.dense_threshold("x") == 0.7
