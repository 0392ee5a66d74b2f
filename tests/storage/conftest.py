"""Fixtures for the storage tests.

``db_url`` runs a test once on SQLite (a file under tmp_path) and once on PostgreSQL. The PostgreSQL run uses
one database created for this test session (``hearth_test_<random>``, dropped at the end) whose schema is
emptied before each test, so parallel runs never collide. When PostgreSQL cannot be reached those runs are
skipped, unless ``CI`` is set, where they fail: CI must test both backends.

``HEARTH_TEST_POSTGRES_URL`` (an admin URL) overrides the default candidates below.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from storage.db import make_engine, make_session_factory, migrate
from storage.keys import ApiKeyStore

ADMIN_CANDIDATES = (
    "postgresql://postgres@127.0.0.1:5432/test",
    "postgresql://postgres@127.0.0.1:5432/postgres",
    "postgresql://root@127.0.0.1:5432/test",
    "postgresql://root@127.0.0.1:5432/postgres",
)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def skip_or_fail(reason: str) -> None:
    if in_ci():
        pytest.fail(f"{reason} (CI is set: CI must run these tests)")
    pytest.skip(reason)


def _admin_url() -> tuple[str | None, str]:
    override = os.environ.get("HEARTH_TEST_POSTGRES_URL")
    candidates = (override,) if override else ADMIN_CANDIDATES
    errors = []
    for url in candidates:
        try:
            with psycopg.connect(url, connect_timeout=3, autocommit=True) as conn:
                conn.execute("SELECT 1")
            return url, ""
        except psycopg.Error as exc:
            errors.append(f"{url}: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}")
    return None, "; ".join(errors)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh database for this test session; yields its plain ``postgresql://`` URL."""
    admin, errors = _admin_url()
    if admin is None:
        skip_or_fail(f"PostgreSQL is not reachable: {errors}")
        raise AssertionError("unreachable")  # for type checkers: skip/fail raise
    name = f"hearth_test_{secrets.token_hex(6)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def reset_postgres(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty database: a SQLite file in a directory that does not exist yet, or the session's
    PostgreSQL database with an empty schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'nested' / 'hearth.db'}"
    url: str = request.getfixturevalue("postgres_database")
    reset_postgres(url)
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def migrated_engine(engine: Engine) -> Engine:
    migrate(engine)
    return engine


@pytest.fixture
def store(migrated_engine: Engine) -> ApiKeyStore:
    return ApiKeyStore(make_session_factory(migrated_engine))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
