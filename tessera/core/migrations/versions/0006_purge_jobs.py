"""purge jobs: a consent change and the purge it owes commit together

Revision ID: 0006_purge_jobs
Revises: 0005_moderation
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_purge_jobs"
down_revision: str | Sequence[str] | None = "0005_moderation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "purge_jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("file_ids", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
    )
    op.create_index("ix_purge_jobs_done", "purge_jobs", ["done_at"])


def downgrade() -> None:
    op.drop_index("ix_purge_jobs_done", table_name="purge_jobs")
    op.drop_table("purge_jobs")
