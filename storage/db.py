"""The relational database: engines, sessions, the declarative base, migrations and a health check.

SQLite (the embedded default, a file under the data dir) and PostgreSQL (``postgresql+psycopg://``) are both
first-class. Engines are synchronous; async callers run them in threads (``asyncio.to_thread``).

Nothing connects at import time: build an engine with :func:`make_engine` from the composition root.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, DateTime, Dialect, Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

from storage.errors import DatabaseUnavailable, MigrationError, StorageError

log = logging.getLogger("hearth.storage")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# pg_advisory_xact_lock key shared by every Hearth process migrating the same database ("Hearth\x01")
_PG_MIGRATION_LOCK_KEY = 0x48656172746801
_PG_MIGRATION_LOCK_TIMEOUT = "300s"
_SQLITE_BUSY_TIMEOUT_S = 15.0
# Alembic's ``context`` is a module-level proxy: two upgrades in one process at once would trample it
_ALEMBIC_LOCK = threading.Lock()

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table (storage/models.py). Named constraints keep SQLite batch
    migrations and PostgreSQL in agreement."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores it naive, we add UTC back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass a timezone-aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def normalize_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` become ``postgresql+psycopg://``; others pass through."""
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


def make_engine(
    url: str, *, echo: bool = False, pool_size: int = 5, connect_timeout_s: float = 5.0
) -> Engine:
    """An engine for ``url`` that survives a database restart (``pool_pre_ping``).

    SQLite: the parent directory is created, WAL journal and foreign keys are on, connections may cross
    threads. PostgreSQL: psycopg 3, ``connect_timeout_s`` bounds each connection attempt.
    """
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() == "sqlite":
        return _make_sqlite_engine(parsed, echo=echo, pool_size=pool_size)
    connect_args: dict[str, Any] = {}
    if parsed.get_driver_name() == "psycopg" and "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = max(1, round(connect_timeout_s))
    return create_engine(
        parsed, echo=echo, pool_size=pool_size, pool_pre_ping=True, connect_args=connect_args
    )


def _sqlite_path(url: URL) -> Path | None:
    """The database file, or None for an in-memory database."""
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        return None
    if database.startswith("file:"):  # a URI filename (?uri=true)
        database = database[len("file:") :]
    return Path(database).expanduser()


def _make_sqlite_engine(url: URL, *, echo: bool, pool_size: int) -> Engine:
    path = _sqlite_path(url)
    connect_args = {"check_same_thread": False, "timeout": _SQLITE_BUSY_TIMEOUT_S}
    if path is None:
        # one shared connection, or every thread would see its own empty database
        engine = create_engine(url, echo=echo, connect_args=connect_args, poolclass=StaticPool)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, echo=echo, pool_size=pool_size, pool_pre_ping=True, connect_args=connect_args
        )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            if path is not None:
                # journal_mode is persistent: only the first connection to a new file pays for the switch
                if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                    cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (they are converted to domain types anyway)."""
    return sessionmaker(engine, expire_on_commit=False)


def shown_url(engine: Engine) -> str:
    """The engine's URL without its password, for messages and logs."""
    return engine.url.render_as_string(hide_password=True)


def describe_error(exc: BaseException) -> str:
    """The driver's first line for a SQLAlchemy error (without SQLAlchemy's SQL and background link)."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


@contextlib.contextmanager
def transaction(sessions: Callable[[], Session]) -> Iterator[Session]:
    """A session inside one transaction (committed on exit); a database that does not answer becomes
    DatabaseUnavailable. The repositories' shared unit of work."""
    try:
        with sessions() as session, session.begin():
            yield session
    except OperationalError as exc:
        raise DatabaseUnavailable(f"the database is unavailable: {describe_error(exc)}") from exc


def ping(engine: Engine) -> None:
    """``SELECT 1``; DatabaseUnavailable when the database does not answer."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(
            f"the database {shown_url(engine)} does not answer: {describe_error(exc)}"
        ) from exc


# --- migrations ---------------------------------------------------------------------------------------


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config built in code (no alembic.ini lookup), optionally bound to ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision shipped with this version of Hearth."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise MigrationError(f"no Alembic revisions under {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(
            f"the database {shown_url(engine)} does not answer: {describe_error(exc)}"
        ) from exc


def migrate(engine_or_url: Engine | str) -> str:
    """Bring the schema to the head revision (``alembic upgrade head``); returns that revision.

    Safe to call on every start-up (a migrated database is left alone) and from several processes at once:
    PostgreSQL serializes them with a transaction-scoped advisory lock, SQLite with a lock file beside the
    database.
    """
    if isinstance(engine_or_url, str):
        engine = make_engine(engine_or_url, pool_size=1)
        try:
            return migrate(engine)
        finally:
            engine.dispose()
    engine = engine_or_url
    try:
        with _migration_lock(engine), engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                _upgrade_postgresql(connection)
            elif connection.dialect.name == "sqlite":
                _upgrade_sqlite(connection)
            else:
                _upgrade(connection)
                connection.commit()
    except StorageError:
        raise
    except OperationalError as exc:
        raise DatabaseUnavailable(
            f"the database {shown_url(engine)} does not answer: {describe_error(exc)}"
        ) from exc
    except Exception as exc:
        raise MigrationError(f"migrating {shown_url(engine)} failed: {describe_error(exc)}") from exc
    return head_revision()


def _upgrade(connection: Connection) -> None:
    with _ALEMBIC_LOCK:
        command.upgrade(alembic_config(connection), "head")


def _upgrade_postgresql(connection: Connection) -> None:
    # the lock and the DDL share one transaction: the lock is released by the commit (or by the server
    # when this process dies), and a waiting process then reads the new alembic_version and does nothing
    connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{_PG_MIGRATION_LOCK_TIMEOUT}'")
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK_KEY})
    connection.exec_driver_sql("SET LOCAL lock_timeout = DEFAULT")
    _upgrade(connection)
    connection.commit()


def _upgrade_sqlite(connection: Connection) -> None:
    # batch migrations recreate tables; with foreign keys on, dropping a referenced table would cascade.
    # PRAGMA foreign_keys only takes effect outside a transaction, hence before the first write.
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    try:
        _upgrade(connection)
        violations = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if violations:
            connection.rollback()
            raise MigrationError(f"the migration left foreign key violations: {violations[:5]}")
        connection.commit()
    finally:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Cross-process lock for SQLite files (PostgreSQL locks inside the migration transaction)."""
    path = _sqlite_path(engine.url) if engine.dialect.name == "sqlite" else None
    if path is None:
        yield
        return
    lock_path = path.with_name(path.name + ".migrate.lock")
    with open(lock_path, "a+b") as lock_file:
        # flock locks belong to the open file, so this also serializes threads of one process
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)
