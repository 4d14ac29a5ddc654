"""Taxonomy tables: clustering runs, clusters with stable identities, community schemes and labels.

They share ``Base.metadata`` with the core schema; migration 0002_taxonomy creates exactly these.
Labels attach to a cluster *identity* (or a single item), never to a run-local cluster, so that
they survive re-clustering.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tessera.core.models import Base, UtcDateTime, utcnow


class ClusteringRun(Base):
    __tablename__ = "clustering_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    space: Mapped[str] = mapped_column(String(32))
    extractor_version: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    n_items: Mapped[int] = mapped_column(Integer, default=0)
    n_clusters: Mapped[int] = mapped_column(Integer, default=0)
    n_noise: Mapped[int] = mapped_column(Integer, default=0)
    previous_run_id: Mapped[int | None] = mapped_column(ForeignKey("clustering_runs.id", ondelete="SET NULL"))
    created_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ClusterIdentity(Base):
    """A grouping that persists across runs; labels hang off it."""

    __tablename__ = "cluster_identities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_run_id: Mapped[int | None] = mapped_column(ForeignKey("clustering_runs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Cluster(Base):
    __tablename__ = "clusters"
    __table_args__ = (UniqueConstraint("run_id", "local_label", name="uq_cluster_run_label"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("clustering_runs.id", ondelete="CASCADE"))
    local_label: Mapped[int] = mapped_column(Integer)
    identity_id: Mapped[int] = mapped_column(ForeignKey("cluster_identities.id", ondelete="CASCADE"))
    size: Mapped[int] = mapped_column(Integer)
    total_duration: Mapped[float] = mapped_column(Float, default=0.0)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    exemplars: Mapped[list[Any]] = mapped_column(JSON, default=list)


class ClusterMember(Base):
    """One item in one run: its 2-D map position, and its cluster (NULL = unclustered)."""

    __tablename__ = "cluster_members"
    __table_args__ = (
        UniqueConstraint("run_id", "file_id", name="uq_member_run_file"),
        Index("ix_members_cluster", "cluster_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("clustering_runs.id", ondelete="CASCADE"))
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"))
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"))
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    probability: Mapped[float] = mapped_column(Float, default=0.0)


class ClusterLineage(Base):
    """How a run's clusters relate to the previous run's: continued | split | merged | new | dissolved."""

    __tablename__ = "cluster_lineage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("clustering_runs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    from_identity_id: Mapped[int | None] = mapped_column(ForeignKey("cluster_identities.id", ondelete="CASCADE"))
    to_identity_id: Mapped[int | None] = mapped_column(ForeignKey("cluster_identities.id", ondelete="CASCADE"))
    from_cluster_id: Mapped[int | None] = mapped_column(ForeignKey("clusters.id", ondelete="SET NULL"))
    to_cluster_id: Mapped[int | None] = mapped_column(ForeignKey("clusters.id", ondelete="SET NULL"))
    overlap: Mapped[int] = mapped_column(Integer, default=0)


class Scheme(Base):
    """A community's concept scheme; ``rule`` says how a label becomes accepted."""

    __tablename__ = "schemes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    community: Mapped[str | None] = mapped_column(Text)
    rule: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class SchemeSteward(Base):
    __tablename__ = "scheme_stewards"
    __table_args__ = (UniqueConstraint("scheme_id", "user_name", name="uq_steward"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scheme_id: Mapped[int] = mapped_column(ForeignKey("schemes.id", ondelete="CASCADE"))
    user_name: Mapped[str] = mapped_column(String(128))


class Label(Base):
    """A community's name for a cluster identity or a single item, in one language."""

    __tablename__ = "labels"
    __table_args__ = (Index("ix_labels_identity", "identity_id"), Index("ix_labels_scheme", "scheme_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scheme_id: Mapped[int] = mapped_column(ForeignKey("schemes.id", ondelete="CASCADE"))
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("cluster_identities.id", ondelete="CASCADE"))
    file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    cultural_context: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="proposed")  # proposed | accepted | removed
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class LabelVote(Base):
    __tablename__ = "label_votes"
    __table_args__ = (UniqueConstraint("label_id", "voter", name="uq_vote_label_voter"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id", ondelete="CASCADE"))
    voter: Mapped[str] = mapped_column(String(128))
    value: Mapped[int] = mapped_column(Integer)  # +1 | -1
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class LabelLink(Base):
    __tablename__ = "label_links"
    __table_args__ = (UniqueConstraint("label_id", "other_label_id", "kind", name="uq_label_link"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id", ondelete="CASCADE"))
    other_label_id: Mapped[int] = mapped_column(ForeignKey("labels.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # exactMatch | closeMatch | related
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class LabelHistory(Base):
    """Every proposal, vote, acceptance, edit, link and removal: who, when, what."""

    __tablename__ = "label_history"
    __table_args__ = (Index("ix_label_history_label", "label_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(16))  # propose | vote | accept | edit | remove | link
    actor: Mapped[str] = mapped_column(String(128))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
