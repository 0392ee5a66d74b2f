"""Every table of Hearth, in one module (Alembic's env.py imports it to know the schema).

Rows stay inside the storage package: stores convert them to frozen domain types (e.g.
:class:`storage.keys.ApiKeyRecord`) before returning. A change here needs a hand-written revision in
``storage/migrations/versions`` (tests/storage/test_db.py checks the two agree).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, UTCDateTime, utcnow

API_KEY_ROLES = ("user", "admin")


class ApiKey(Base):
    """An API key: only the sha256 of the plaintext is kept, plus its first 8 characters for display."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("role IN ('user', 'admin')", name="role"),
        # names are unique among active keys, so a name can be reused once its key is revoked
        Index(
            "uq_api_keys_name_active",
            "name",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16), default="user")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
