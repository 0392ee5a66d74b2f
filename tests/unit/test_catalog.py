"""configs/models.yaml → deployments: profiles, the embedded engine, env references, validation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from configs.settings import CONFIG_DIR
from inference.catalog import CatalogError, load_catalog
from inference.errors import ModelNotFound

ENGINE = "http://127.0.0.1:8101/v1"


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_shipped_file_embedded_profile() -> None:
    catalog = load_catalog(CONFIG_DIR / "models.yaml", profiles=[], engine_url=ENGINE, engine_context=8192)
    [deployment] = catalog.deployments
    assert deployment.embedded and deployment.api_base == ENGINE and deployment.context_window == 8192
    assert deployment.upstream_model == "qwen2.5-coder-0.5b-instruct" and deployment.passthrough
    assert catalog.resolve("default") == "qwen2.5-coder-0.5b-instruct"
    assert catalog.resolve("gpt-4o-mini") == "qwen2.5-coder-0.5b-instruct"
    with pytest.raises(ModelNotFound):
        catalog.resolve("nope")


@pytest.mark.parametrize(
    ("profile", "env", "base"),
    [("cpu", "OLLAMA_API_BASE", "http://ollama:11434/v1"), ("gpu", "VLLM_API_BASE", "http://vllm:8000/v1")],
)
def test_shipped_file_server_profiles(profile: str, env: str, base: str) -> None:
    catalog = load_catalog(
        CONFIG_DIR / "models.yaml", profiles=[profile], engine_url=None, engine_context=0, env={env: base}
    )
    [deployment] = catalog.deployments
    assert deployment.api_base == base and not deployment.embedded
    assert deployment.stream_usage and deployment.grammar_style == "openai"


def test_missing_env_variable_is_named(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="VLLM_API_BASE"):
        load_catalog(CONFIG_DIR / "models.yaml", profiles=["gpu"], engine_url=None, engine_context=0, env={})


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
    catalog = load_catalog(path, profiles=[], engine_url=None, engine_context=4096, env={})
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
        load_catalog(path, profiles=[], engine_url=None, engine_context=0, env={}).context_window("a") == 4096
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
                    {"model_name": "a", "litellm_params": {"model": "openai/x", "api_base": "http://h"}}
                ],
                "router_settings": {"fallbacks": [{"a": ["zzz"]}]},
            },
            "unknown model groups",
        ),
    ],
)
def test_invalid_files_fail_with_a_clear_message(tmp_path: Path, data: dict, message: str) -> None:
    with pytest.raises(CatalogError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_catalog(_write(tmp_path, data), profiles=[], engine_url=None, engine_context=0, env={})
