"""storage.db: engines, migrations (idempotent, safe when run concurrently), health check, recovery."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from storage import models  # noqa: F401  (tables on Base.metadata)
from storage.db import (
    Base,
    alembic_config,
    current_revision,
    head_revision,
    make_engine,
    make_session_factory,
    migrate,
    normalize_url,
    ping,
)
from storage.errors import DatabaseUnavailable
from storage.keys import ApiKeyStore

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@db:5432/hearth", "postgresql+psycopg://u:p@db:5432/hearth"),
        ("postgresql://u@db/hearth", "postgresql+psycopg://u@db/hearth"),
        ("postgresql+psycopg://u@db/hearth", "postgresql+psycopg://u@db/hearth"),
        ("sqlite:////tmp/hearth.db", "sqlite:////tmp/hearth.db"),
    ],
)
def test_normalize_url_uses_psycopg_for_postgresql(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


def test_plain_postgres_url_gets_a_psycopg_engine_without_connecting() -> None:
    engine = make_engine("postgres://someone:secret@127.0.0.1:1/nowhere")
    try:
        assert engine.dialect.name == "postgresql"
        assert engine.dialect.driver == "psycopg"
    finally:
        engine.dispose()


def test_sqlite_engine_creates_the_directory_and_sets_wal_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "hearth.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert path.exists()
        # connections cross threads (the API runs the store in a thread pool)
        errors: list[BaseException] = []

        def query() -> None:
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=query) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
    finally:
        engine.dispose()


def test_migrate_brings_an_empty_database_to_head(engine: Engine) -> None:
    assert current_revision(engine) is None
    assert migrate(engine) == head_revision() == "0003"
    assert current_revision(engine) == "0003"
    assert "api_keys" in inspect(engine).get_table_names()


def test_migrate_twice_is_a_noop(engine: Engine) -> None:
    migrate(engine)
    store = ApiKeyStore(make_session_factory(engine))
    plaintext, record = store.create("kept")
    migrate(engine)
    migrate(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [
            head_revision()
        ]
    assert store.verify(plaintext) == store.get(record.id)


def test_migrate_accepts_a_url(db_url: str) -> None:
    assert migrate(db_url) == head_revision()
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) == "0003"
    finally:
        engine.dispose()


def test_concurrent_migrations_from_threads_are_serialized(db_url: str) -> None:
    barrier = threading.Barrier(4)
    results: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(migrate(db_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == [head_revision()] * 4
    _assert_single_head(db_url)


@pytest.mark.slow
def test_concurrent_migrations_from_processes_are_serialized(db_url: str) -> None:
    code = "import sys; from storage.db import migrate; print(migrate(sys.argv[1]))"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, db_url],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
        assert out.strip() == head_revision()
    _assert_single_head(db_url)


def _assert_single_head(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [
                head_revision()
            ]
        assert "api_keys" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_the_models_match_the_migrations(migrated_engine: Engine) -> None:
    with migrated_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_downgrade_to_base_and_upgrade_again(migrated_engine: Engine) -> None:
    with migrated_engine.connect() as conn:
        command.downgrade(alembic_config(conn), "base")
        conn.commit()
    assert "api_keys" not in inspect(migrated_engine).get_table_names()
    assert current_revision(migrated_engine) is None
    migrate(migrated_engine)
    assert current_revision(migrated_engine) == head_revision()


def test_ping_answers(engine: Engine) -> None:
    ping(engine)


def test_ping_raises_database_unavailable_without_leaking_the_password() -> None:
    engine = make_engine("postgresql://hearth:s3cret-pw@127.0.0.1:1/hearth", connect_timeout_s=2)
    try:
        with pytest.raises(DatabaseUnavailable) as info:
            ping(engine)
        assert "127.0.0.1:1" in str(info.value)
        assert "s3cret-pw" not in str(info.value)
        with pytest.raises(DatabaseUnavailable):
            migrate(engine)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_pool_pre_ping_recovers_after_the_server_drops_connections(postgres_database: str) -> None:
    from tests.storage.conftest import reset_postgres

    reset_postgres(postgres_database)
    engine = make_engine(postgres_database, pool_size=2)
    try:
        migrate(engine)
        store = ApiKeyStore(make_session_factory(engine))
        plaintext, record = store.create("survivor")
        ping(engine)  # the pool now holds live connections
        database = engine.url.database
        with psycopg.connect(postgres_database, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchone()
        assert killed is not None and killed[0] >= 1
        # what a PostgreSQL restart looks like to the pool: every pooled connection is dead
        ping(engine)
        verified = store.verify(plaintext)
        assert verified is not None and verified.id == record.id
    finally:
        engine.dispose()
