"""Datasets: a named, curated subset of the catalogue with immutable versions.

Every change (members added or removed, notes) makes a new ``DatasetVersion``
holding a full copy of its member list, so any old version can be exported
again exactly as it was. Created by migration ``0003_search_datasets``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tessera.core.models import Base, UtcDateTime, utcnow


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("slug", name="uq_dataset_slug"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    slug: Mapped[str] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(Text)  # purpose
    notes: Mapped[str | None] = mapped_column(Text)  # curation notes, for the datasheet
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)

    versions: Mapped[list[DatasetVersion]] = relationship(
        back_populates="dataset", order_by="DatasetVersion.version", cascade="all, delete-orphan")


class DatasetVersion(Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "version", name="uq_dataset_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    notes: Mapped[str | None] = mapped_column(Text)
    # where the members came from: {"kind": "query"|"cluster"|"label"|"manual", ...parameters}
    origin: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str | None] = mapped_column(Text)
    member_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    dataset: Mapped[Dataset] = relationship(back_populates="versions")
    members: Mapped[list[DatasetMember]] = relationship(
        back_populates="version", order_by="DatasetMember.position", cascade="all, delete-orphan")


class DatasetMember(Base):
    __tablename__ = "dataset_members"
    __table_args__ = (Index("ix_dataset_members_version", "version_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    file_id: Mapped[int] = mapped_column(Integer)  # no FK: snapshots outlive files
    segment_id: Mapped[int | None] = mapped_column(Integer)
    start: Mapped[float | None] = mapped_column(Float)
    end: Mapped[float | None] = mapped_column(Float)
    md5: Mapped[str] = mapped_column(String(32))  # what the member was when the version was made

    version: Mapped[DatasetVersion] = relationship(back_populates="members")
