"""Errors of the storage package (database, migrations, API keys, Redis).

    StorageError
    ├── DatabaseUnavailable       the database did not answer (refused, restarted, locked too long)
    ├── MigrationError            ``alembic upgrade head`` failed; the schema is not usable
    ├── RedisUnavailable          no Redis at the URL, and no embedded fallback (or it could not start)
    └── ApiKeyError
        ├── KeyNotFound           no API key with that id or name (also a LookupError)
        ├── DuplicateKeyName      an active key already has that name (also a ValueError)
        └── InvalidKeyField       an empty or too long name, an unknown role (also a ValueError)

Third-party errors (SQLAlchemy, psycopg, redis-py, Alembic) are wrapped where they enter, with the original
as ``__cause__``. The API maps each to a status code once (api/errors.py).
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of every error raised by the storage package."""

    code: str = "storage_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DatabaseUnavailable(StorageError):
    code = "database_unavailable"


class MigrationError(StorageError):
    code = "migration_error"


class RedisUnavailable(StorageError):
    code = "redis_unavailable"


class ApiKeyError(StorageError):
    code = "api_key_error"


class KeyNotFound(ApiKeyError, LookupError):
    code = "key_not_found"

    def __init__(self, key: str) -> None:
        super().__init__(f"no API key with id or name {key!r}")
        self.key = key


class DuplicateKeyName(ApiKeyError, ValueError):
    code = "duplicate_key_name"

    def __init__(self, name: str) -> None:
        super().__init__(f"an active API key is already named {name!r}: revoke it or pick another name")
        self.name = name


class InvalidKeyField(ApiKeyError, ValueError):
    code = "invalid_key_field"
