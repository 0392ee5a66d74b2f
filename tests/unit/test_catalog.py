"""configs/models.yaml → deployments: profiles, the embedded engine, env references, validation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from configs.settings import CONFIG_DIR
from inference.catalog import CatalogError, load_catalog
from inference.errors import ModelNotFound

LARGE, SMALL = "qwen2.5-coder-1.5b-instruct", "qwen2.5-coder-0.5b-instruct"
ENGINES = {LARGE: "http://127.0.0.1:8101/v1", SMALL: "http://127.0.0.1:8102/v1"}


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_shipped_file_embedded_profile() -> None:
    """Two engines: each embedded deployment gets the URL of the engine that serves its upstream model."""
    catalog = load_catalog(CONFIG_DIR / "models.yaml", profiles=[], engine_urls=ENGINES, engine_context=8192)
    assert catalog.groups == [LARGE, SMALL]
    for deployment in catalog.deployments:
        assert deployment.embedded and deployment.passthrough and deployment.context_window == 8192
        assert deployment.api_base == ENGINES[deployment.upstream_model] and deployment.tokenizer == "engine"
    assert catalog.resolve("default") == catalog.resolve("gpt-4o-mini") == LARGE
    assert catalog.resolve("gpt-3.5-turbo") == LARGE
    assert catalog.resolve("fast") == SMALL
    with pytest.raises(ModelNotFound):
        catalog.resolve("nope")


def test_without_the_large_engine_default_is_the_small_model() -> None:
    """engine.large=false: no engine serves the 1.5B, its group drops out and the aliases fall to the 0.5B."""
    catalog = load_catalog(
        CONFIG_DIR / "models.yaml",
        profiles=["test"],
        engine_urls={SMALL: ENGINES[SMALL]},
        engine_context=4096,
    )
    assert catalog.groups == [SMALL]
    assert {alias: catalog.resolve(alias) for alias in catalog.aliases} == {
        "default": SMALL,
        "fast": SMALL,
        "gpt-4o-mini": SMALL,
        "gpt-3.5-turbo": SMALL,
    }
    with pytest.raises(ModelNotFound):
        catalog.resolve(LARGE)


def test_vllm_profile_keeps_default_on_the_group_vllm_serves() -> None:
    """test,vllm (tests/peers): the profile leaves the 1.5B engine out, so `default` is vLLM's 0.5B group."""
    catalog = load_catalog(
        CONFIG_DIR / "models.yaml",
        profiles=["test", "vllm"],
        engine_urls={SMALL: ENGINES[SMALL]},
        engine_context=4096,
        env={"VLLM_API_BASE": "http://127.0.0.1:9/v1"},
    )
    assert catalog.resolve("default") == SMALL
    assert {d.api_base for d in catalog.deployments_of(SMALL)} == {ENGINES[SMALL], "http://127.0.0.1:9/v1"}


@pytest.mark.parametrize(
    ("profile", "env"),
    [
        ("cpu", {"OLLAMA_API_BASE": "http://ollama:11434/v1"}),
        ("gpu", {"VLLM_LARGE_API_BASE": "http://vllm-large:8000/v1", "VLLM_API_BASE": "http://vllm:8000/v1"}),
    ],
)
def test_shipped_file_server_profiles(profile: str, env: dict[str, str]) -> None:
    catalog = load_catalog(
        CONFIG_DIR / "models.yaml", profiles=[profile], engine_urls={}, engine_context=0, env=env
    )
    assert catalog.groups == [LARGE, SMALL]
    assert {d.api_base for d in catalog.deployments} == set(env.values())
    for deployment in catalog.deployments:
        assert not deployment.embedded and deployment.stream_usage and deployment.grammar_style == "openai"
    assert catalog.resolve("default") == LARGE and catalog.resolve("fast") == SMALL


def test_missing_env_variable_is_named(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="VLLM_LARGE_API_BASE"):
        load_catalog(CONFIG_DIR / "models.yaml", profiles=["gpu"], engine_urls={}, engine_context=0, env={})


def test_embedded_entries_drop_out_when_the_engine_is_disabled(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "model_list": [
                {"model_name": "a", "litellm_params": {"model": "openai/x", "api_base": "embedded"}},
                {
                    "model_name": "b",
                    "litellm_params": {"model": "openai/y", "api_base": "http://h/v1"},
                    "model_info": {"context_window": 2048},
                },
            ]
        },
    )
    catalog = load_catalog(path, profiles=[], engine_urls={}, engine_context=4096, env={})
    assert catalog.groups == ["b"] and catalog.context_window("b") == 2048


def test_group_context_is_the_smallest_deployment(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "model_list": [
                {
                    "model_name": "a",
                    "litellm_params": {"model": "openai/x", "api_base": "http://h1/v1"},
                    "model_info": {"context_window": 8192},
                },
                {
                    "model_name": "a",
                    "litellm_params": {"model": "openai/x", "api_base": "http://h2/v1"},
                    "model_info": {"context_window": 4096},
                },
            ]
        },
    )
    assert (
        load_catalog(path, profiles=[], engine_urls={}, engine_context=0, env={}).context_window("a") == 4096
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"model_list": []}, "no deployment"),
        ({"model_list": [{"model_name": "a"}]}, "needs model_name and litellm_params"),
        (
            {"model_list": [{"model_name": "a", "litellm_params": {"model": "x", "api_base": "http://h"}}]},
            "<provider>/<model>",
        ),
        (
            {
                "model_list": [
                    {"model_name": "a", "litellm_params": {"model": "openai/x", "api_base": "http://h"}}
                ],
                "router_settings": {"model_group_alias": {"b": "zzz"}},
            },
            "points at 'zzz'",
        ),
        (
            {
                "model_list": [
                    {"model_name": "a", "litellm_params": {"model": "openai/x", "api_base": "embedded"}},
                    {"model_name": "c", "litellm_params": {"model": "openai/z", "api_base": "http://h"}},
                ],
                "router_settings": {"model_group_alias": {"b": ["a", "zzz"]}},
            },
            "points at ['a', 'zzz'], which has no deployment",
        ),
        (
            {
                "model_list": [
                    {"model_name": "a", "litellm_params": {"model": "openai/x", "api_base": "http://h"}}
                ],
                "router_settings": {"fallbacks": [{"a": ["zzz"]}]},
            },
            "unknown model groups",
        ),
    ],
)
def test_invalid_files_fail_with_a_clear_message(tmp_path: Path, data: dict, message: str) -> None:
    with pytest.raises(CatalogError, match=re.escape(message)):
        load_catalog(_write(tmp_path, data), profiles=[], engine_urls={}, engine_context=0, env={})


def test_an_alias_of_models_no_engine_serves_is_left_out() -> None:
    """Engines configured with the 1.5B only: `fast` (the 0.5B) is not served here, so it is not listed."""
    catalog = load_catalog(
        CONFIG_DIR / "models.yaml", profiles=[], engine_urls={LARGE: ENGINES[LARGE]}, engine_context=4096
    )
    assert catalog.groups == [LARGE] and "fast" not in catalog.aliases
    assert catalog.resolve("default") == LARGE
    with pytest.raises(ModelNotFound):
        catalog.resolve("fast")
