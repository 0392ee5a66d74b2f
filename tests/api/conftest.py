from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.support import LARGE, ServerProcess, start_server


@pytest.fixture(scope="session")
def hearth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real `hearth serve` for the session (test profile: embedded llama.cpp engines as shipped, the 1.5B
    for `default` and the 0.5B for `fast`; SQLite, Redis)."""
    data_dir: Path = tmp_path_factory.mktemp("hearth-data")
    server = start_server(data_dir, env=LARGE)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def client(hearth: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=hearth.v1, api_key=hearth.api_key, max_retries=0, timeout=120)
