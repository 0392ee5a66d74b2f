"""Nothing reaches the internet at run time: the server runs in a network namespace with only loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.slow


def _netns_available() -> bool:
    if not shutil.which("unshare") or not shutil.which("ip"):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


def test_server_works_with_no_network_at_all(tmp_path: Path) -> None:
    if not _netns_available():
        if os.environ.get("CI") == "true":
            pytest.fail("CI must be able to run the offline test (unshare -n and ip from iproute2, as root)")
        pytest.skip("network namespaces are not available here")
    driver = ROOT / "tests" / "api" / "offline_driver.py"
    proc = subprocess.run(
        ["unshare", "-n", sys.executable, str(driver), str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result["internet"] is False  # the namespace really is cut off
    assert result["chat"] and result["stream"]
    assert result["e5_dims"] == 384 and result["minilm_dims"] == 384
    assert result["redis"] == {"status": "ok", "embedded": True}
