"""Alembic environment for Hearth's database.

Programmatic use (the normal path): :func:`storage.db.migrate` builds the config in code and hands over an
open connection in ``config.attributes["connection"]``, inside its migration lock.

Command line (to write a new revision): ``alembic -c storage/alembic.ini -x url=sqlite:///data/hearth.db
revision -m "..."``; the URL comes from ``-x url=`` or ``sqlalchemy.url``, never from the environment.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from storage import models  # noqa: F401  (registers the tables on Base.metadata)
from storage.db import Base, make_engine, normalize_url

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: batch mode recreates the table instead
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: pass -x url=<database url> to alembic")
    return normalize_url(url)


def run_offline() -> None:
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    engine = make_engine(_url(), pool_size=1)
    try:
        with engine.connect() as own_connection:
            _configure(own_connection)
            own_connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
