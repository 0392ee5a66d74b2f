"""The `hearth` CLI as a user runs it: keys made by the CLI authenticate against the running server,
doctor says what is wrong, and every failure is one line on stderr with a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from tests.support import ROOT, ServerProcess, base_env

pytestmark = pytest.mark.slow


def hearth_cli(server: ServerProcess, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = base_env(server.log_path.parent, **env)
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_keys_created_by_the_cli_work_and_can_be_revoked(hearth: ServerProcess) -> None:
    created = hearth_cli(hearth, "keys", "create", "--name", "analytics")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("hk-") and len(key) > 30
    assert "shown only once" in created.stderr

    headers = {"authorization": f"Bearer {key}"}
    assert httpx.get(f"{hearth.v1}/models", headers=headers, timeout=10).status_code == 200

    listed = hearth_cli(hearth, "keys", "list")
    assert listed.returncode == 0 and "analytics" in listed.stdout and key not in listed.stdout

    duplicate = hearth_cli(hearth, "keys", "create", "--name", "analytics")
    assert duplicate.returncode == 1 and duplicate.stderr.startswith("error: ")
    assert len(duplicate.stderr.strip().splitlines()) == 1

    revoked = hearth_cli(hearth, "keys", "revoke", "analytics")
    assert revoked.returncode == 0
    time.sleep(1.5)  # the test profile caches key lookups for one second
    response = httpx.get(f"{hearth.v1}/models", headers=headers, timeout=10)
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"


def test_unknown_key_revocation_is_a_one_line_error(hearth: ServerProcess) -> None:
    result = hearth_cli(hearth, "keys", "revoke", "no-such-key")
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1


def test_doctor_reports_each_backend(hearth: ServerProcess) -> None:
    ok = hearth_cli(hearth, "doctor", HEARTH_ENGINE__PORT="8199")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    for name in ("engine model", "database", "redis", "models.yaml", "embedder multilingual-e5-small"):
        assert f"] {name}" in ok.stdout

    broken = hearth_cli(
        hearth,
        "doctor",
        HEARTH_DATABASE__URL="postgresql://nobody@127.0.0.1:1/none",
        HEARTH_REDIS__URL="redis://127.0.0.1:1/0",
        HEARTH_REDIS__EMBEDDED_FALLBACK="false",
    )
    assert broken.returncode == 1
    fails = [line for line in broken.stdout.splitlines() if line.startswith("[FAIL]")]
    assert any("database" in line and "HEARTH_DATABASE__URL" in line for line in fails)
    assert any("redis" in line and "HEARTH_REDIS__URL" in line for line in fails)
    assert broken.stderr.strip() == "error: 2 check(s) failed"
