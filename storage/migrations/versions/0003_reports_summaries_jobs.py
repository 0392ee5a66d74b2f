"""reports, summaries, jobs and job_items, error_events.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

Hand-written: it must work on SQLite (batch mode) and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=True),
        sa.Column("ticker", sa.String(32), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("run_key", sa.String(120), nullable=True),
        sa.Column("as_of", sa.String(10), nullable=False),
        sa.Column("markdown", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("prompt_version", sa.String(50), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint("run_key", name=op.f("uq_reports_run_key")),
    )
    op.create_index(op.f("ix_reports_tenant"), "reports", ["tenant"])
    op.create_index("ix_reports_ticker_created", "reports", ["ticker", "created_at"])
    op.create_table(
        "summaries",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("document_sha", sa.String(64), nullable=False),
        sa.Column("options_key", sa.String(200), nullable=False),
        sa.Column("filename", sa.String(500), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_summaries")),
        sa.UniqueConstraint(
            "tenant",
            "document_sha",
            "options_key",
            name=op.f("uq_summaries_tenant_document_sha_options_key"),
        ),
    )
    op.create_index(op.f("ix_summaries_tenant"), "summaries", ["tenant"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index(op.f("ix_jobs_tenant"), "jobs", ["tenant"])
    op.create_table(
        "job_items",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(500), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'started', 'finished', 'failed')", name=op.f("ck_job_items_status")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_items_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_items")),
        sa.UniqueConstraint("job_id", "position", name=op.f("uq_job_items_job_id_position")),
    )
    op.create_index(op.f("ix_job_items_job_id"), "job_items", ["job_id"])
    op.create_table(
        "error_events",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("error_type", sa.String(200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_error_events")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_error_events_fingerprint")),
    )
    op.create_index(op.f("ix_error_events_last_seen"), "error_events", ["last_seen"])


def downgrade() -> None:
    op.drop_index(op.f("ix_error_events_last_seen"), table_name="error_events")
    op.drop_table("error_events")
    op.drop_index(op.f("ix_job_items_job_id"), table_name="job_items")
    op.drop_table("job_items")
    op.drop_index(op.f("ix_jobs_tenant"), table_name="jobs")
    op.drop_table("jobs")
    op.drop_index(op.f("ix_summaries_tenant"), table_name="summaries")
    op.drop_table("summaries")
    op.drop_index("ix_reports_ticker_created", table_name="reports")
    op.drop_index(op.f("ix_reports_tenant"), table_name="reports")
    op.drop_table("reports")
