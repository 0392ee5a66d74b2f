"""A fresh install with no key configured: the first start makes one admin key, saved for the user; later
starts reuse it. Runs without the engine (a remote deployment stands in), so it is quick."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support import free_port, start_server

pytestmark = pytest.mark.slow


def test_first_start_creates_one_dev_key(tmp_path: Path) -> None:
    models = tmp_path / "models.yaml"
    models.write_text(
        yaml.safe_dump(
            {
                "model_list": [
                    {
                        "model_name": "remote",
                        "litellm_params": {
                            "model": "openai/remote",
                            "api_base": f"http://127.0.0.1:{free_port()}/v1",
                        },
                    }
                ]
            }
        )
    )
    env = {
        "HEARTH_ENGINE__ENABLED": "false",
        "HEARTH_GATEWAY__MODELS_FILE": str(models),
        "HEARTH_AUTH__GENERATE_DEV_KEY": "true",
    }
    data = tmp_path / "data"
    server = start_server(data, api_key="", env=env)
    try:
        key_file = data / "dev-api-key"
        key = key_file.read_text().strip()
        assert key.startswith("hk-")
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert "created an admin key named 'dev'" in server.log()
        assert key not in server.log()  # the key itself is never logged
        response = httpx.get(f"{server.v1}/models", headers={"authorization": f"Bearer {key}"}, timeout=10)
        assert response.status_code == 200
        assert [m["id"] for m in response.json()["data"] if m["kind"] == "chat"] == ["remote"]
    finally:
        server.stop()

    server = start_server(data, api_key="", env=env)
    try:
        assert key_file.read_text().strip() == key  # not replaced
        assert "created an admin key" not in server.log().split("Started server process")[-1]
    finally:
        server.stop()
