"""sign-in, community membership, reports, audit log, cultural protocol labels

Revision ID: 0005_moderation
Revises: 0004_accounts
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_moderation"
down_revision: str | Sequence[str] | None = "0004_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as b:
        b.add_column(sa.Column("password_hash", sa.String(256), nullable=True))
        b.add_column(sa.Column("communities", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("api_keys") as b:
        b.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="key"))
        b.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("reporter", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("handled_by", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_reports_status", "reports", ["status"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(48), nullable=False),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "protocol_labels",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(48), nullable=False),
        sa.Column("community", sa.String(256), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("restricts", sa.Boolean(), nullable=False),
        sa.Column("season_start", sa.String(5), nullable=True),
        sa.Column("season_end", sa.String(5), nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_protocol_target", "protocol_labels", ["target_kind", "target_id"])


def downgrade() -> None:
    op.drop_table("protocol_labels")
    op.drop_table("audit_log")
    op.drop_index("ix_reports_status", "reports")
    op.drop_table("reports")
    with op.batch_alter_table("api_keys") as b:
        b.drop_column("expires_at")
        b.drop_column("kind")
    with op.batch_alter_table("users") as b:
        b.drop_column("communities")
        b.drop_column("password_hash")
