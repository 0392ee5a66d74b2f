from __future__ import annotations

import os

# nothing in the tests may reach the internet (set before anything imports transformers or litellm)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.workers.support import RedisProcess  # noqa: E402


@pytest.fixture(scope="session")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """A redis-server the tests start themselves: a test that flushes a database uses this one, never the
    machine's shared Redis (which keeps other people's state). Each test module takes its own db number."""
    server = RedisProcess(Path(tmp_path_factory.mktemp("own-redis")))
    server.start()
    yield server
    server.kill()
