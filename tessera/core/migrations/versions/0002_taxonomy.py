"""taxonomy: clustering runs, clusters, identities, lineage, schemes, labels, votes, links, history

Revision ID: 0002_taxonomy
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_taxonomy"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def _fk(table: str, ondelete: str) -> sa.ForeignKey:
    return sa.ForeignKey(f"{table}.id", ondelete=ondelete)


def upgrade() -> None:
    op.create_table(
        "clustering_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("space", sa.String(32), nullable=False),
        sa.Column("extractor_version", sa.String(32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("n_items", sa.Integer(), nullable=False),
        sa.Column("n_clusters", sa.Integer(), nullable=False),
        sa.Column("n_noise", sa.Integer(), nullable=False),
        sa.Column("previous_run_id", sa.Integer(), _fk("clustering_runs", "SET NULL"), nullable=True),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "cluster_identities",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("first_run_id", sa.Integer(), _fk("clustering_runs", "SET NULL"), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "clusters",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), _fk("clustering_runs", "CASCADE"), nullable=False),
        sa.Column("local_label", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), _fk("cluster_identities", "CASCADE"), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("total_duration", sa.Float(), nullable=False),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("exemplars", sa.JSON(), nullable=False),
        sa.UniqueConstraint("run_id", "local_label", name="uq_cluster_run_label"),
    )
    op.create_table(
        "cluster_members",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), _fk("clustering_runs", "CASCADE"), nullable=False),
        sa.Column("cluster_id", sa.Integer(), _fk("clusters", "CASCADE"), nullable=True),
        sa.Column("file_id", sa.Integer(), _fk("files", "CASCADE"), nullable=False),
        sa.Column("x", sa.Float(), nullable=False),
        sa.Column("y", sa.Float(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.UniqueConstraint("run_id", "file_id", name="uq_member_run_file"),
    )
    op.create_index("ix_members_cluster", "cluster_members", ["cluster_id"])
    op.create_table(
        "cluster_lineage",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), _fk("clustering_runs", "CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("from_identity_id", sa.Integer(), _fk("cluster_identities", "CASCADE"), nullable=True),
        sa.Column("to_identity_id", sa.Integer(), _fk("cluster_identities", "CASCADE"), nullable=True),
        sa.Column("from_cluster_id", sa.Integer(), _fk("clusters", "SET NULL"), nullable=True),
        sa.Column("to_cluster_id", sa.Integer(), _fk("clusters", "SET NULL"), nullable=True),
        sa.Column("overlap", sa.Integer(), nullable=False),
    )
    op.create_table(
        "schemes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("slug", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("community", sa.Text(), nullable=True),
        sa.Column("rule", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "scheme_stewards",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("scheme_id", sa.Integer(), _fk("schemes", "CASCADE"), nullable=False),
        sa.Column("user_name", sa.String(128), nullable=False),
        sa.UniqueConstraint("scheme_id", "user_name", name="uq_steward"),
    )
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("scheme_id", sa.Integer(), _fk("schemes", "CASCADE"), nullable=False),
        sa.Column("identity_id", sa.Integer(), _fk("cluster_identities", "CASCADE"), nullable=True),
        sa.Column("file_id", sa.Integer(), _fk("files", "CASCADE"), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("lang", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("cultural_context", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_index("ix_labels_identity", "labels", ["identity_id"])
    op.create_index("ix_labels_scheme", "labels", ["scheme_id"])
    op.create_table(
        "label_votes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("label_id", sa.Integer(), _fk("labels", "CASCADE"), nullable=False),
        sa.Column("voter", sa.String(128), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.UniqueConstraint("label_id", "voter", name="uq_vote_label_voter"),
    )
    op.create_table(
        "label_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("label_id", sa.Integer(), _fk("labels", "CASCADE"), nullable=False),
        sa.Column("other_label_id", sa.Integer(), _fk("labels", "CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("label_id", "other_label_id", "kind", name="uq_label_link"),
    )
    op.create_table(
        "label_history",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("label_id", sa.Integer(), _fk("labels", "CASCADE"), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("at", TZ, nullable=False),
    )
    op.create_index("ix_label_history_label", "label_history", ["label_id"])


def downgrade() -> None:
    for table in ("label_history", "label_links", "label_votes", "labels", "scheme_stewards", "schemes",
                  "cluster_lineage", "cluster_members", "clusters", "cluster_identities", "clustering_runs"):
        op.drop_table(table)
