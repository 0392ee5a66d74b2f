"""Layered settings: YAML profile on top of the default, environment on top of both."""

from __future__ import annotations

import re

import pytest

from configs.settings import Settings, SettingsError, load_settings


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


def _engines(settings: Settings) -> list[tuple[str, str | None, int]]:
    return [(one.served_name, one.model, one.port) for one in settings.engine.engines()]


def test_two_engines_each_on_its_own_port(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _engines(load_settings()) == [
        ("qwen2.5-coder-1.5b-instruct", "bundled-1.5b", 8101),
        ("qwen2.5-coder-0.5b-instruct", "bundled-0.5b", 8102),
    ]
    monkeypatch.setenv("HEARTH_PROFILES", "test")
    test = load_settings()
    # the test profile runs the 0.5B only, on the port it has beside the 1.5B; tests of the default opt in
    assert [port for *_, port in _engines(test)] == [8192]
    monkeypatch.setenv("HEARTH_ENGINE__LARGE", "true")
    test = load_settings()
    assert [port for *_, port in _engines(test)] == [8191, 8192]
    assert {one.n_ctx for one in test.engine.engines()} == {4096}
    assert test.engine.engines()[1].url == "http://127.0.0.1:8192/v1"
    monkeypatch.setenv("HEARTH_ENGINE__PORT", "9300")  # what the end-to-end tests set: the first of the ports
    assert [port for *_, port in _engines(load_settings())] == [9300, 9301]


def test_a_small_machine_keeps_the_small_model_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARTH_ENGINE__LARGE", "false")
    # the 0.5B keeps its port whether or not the 1.5B runs
    assert _engines(load_settings()) == [("qwen2.5-coder-0.5b-instruct", "bundled-0.5b", 8102)]
    monkeypatch.delenv("HEARTH_ENGINE__LARGE")
    monkeypatch.setenv("HEARTH_PROFILES", "test,vllm")  # the peer tests: vLLM beside the 0.5B only
    assert _engines(load_settings()) == [("qwen2.5-coder-0.5b-instruct", "bundled-0.5b", 8192)]


def test_the_single_engine_settings_still_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """HEARTH_ENGINE__MODEL (and SERVED_NAME, PORT), from before there were two models: one engine."""
    monkeypatch.setenv("HEARTH_ENGINE__MODEL", "/models/mine.gguf")
    monkeypatch.setenv("HEARTH_ENGINE__PORT", "8500")
    assert _engines(load_settings()) == [("qwen2.5-coder-0.5b-instruct", "/models/mine.gguf", 8500)]
    monkeypatch.setenv("HEARTH_ENGINE__SERVED_NAME", "mine")
    assert _engines(load_settings()) == [("mine", "/models/mine.gguf", 8500)]


def test_engine_models_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    models = (
        '[{"served_name": "a", "model": "/m/a.gguf", "port": 9001}, '
        '{"served_name": "b", "model": "/m/b.gguf"}]'
    )
    monkeypatch.setenv("HEARTH_ENGINE__MODELS", models)
    assert _engines(load_settings()) == [("a", "/m/a.gguf", 9001), ("b", "/m/b.gguf", 8102)]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HEARTH_ENGINE__PORT": "7999"}, "qwen2.5-coder-0.5b-instruct) equals the API port"),
        (
            {
                "HEARTH_ENGINE__MODELS": '[{"served_name": "a", "model": "x", "port": 9001}, '
                '{"served_name": "b", "model": "y", "port": 9001}]'
            },
            "a and b both want the engine port 9001",
        ),
        (
            {
                "HEARTH_ENGINE__MODELS": '[{"served_name": "a", "model": "x"}, '
                '{"served_name": "a", "model": "y"}]'
            },
            "serves a name twice",
        ),
        (
            {
                "HEARTH_ENGINE__MODELS": '[{"served_name": "a", "model": "x", "large": true}]',
                "HEARTH_ENGINE__LARGE": "false",
            },
            "HEARTH_ENGINE__LARGE=true",
        ),
    ],
)
def test_engine_settings_that_cannot_work_fail_fast(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValueError, match=re.escape(message)):
        load_settings()
