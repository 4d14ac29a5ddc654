"""Tables of the catalogue stage: source records, their audio files, features and segments.

The migrations in ``tessera/core/migrations`` create exactly the tables every stage declares."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tessera.core.models import Base, UtcDateTime, utcnow


class SourceRecord(Base):
    """A Zenodo record, an Internet Archive item or a local folder."""

    __tablename__ = "source_records"
    __table_args__ = (UniqueConstraint("kind", "identifier", name="uq_record_kind_identifier"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # folder | zenodo | internet_archive
    identifier: Mapped[str] = mapped_column(String(512))
    title: Mapped[str] = mapped_column(Text)
    creator: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    keywords: Mapped[list[Any]] = mapped_column(JSON, default=list)
    doi: Mapped[str | None] = mapped_column(String(256))
    page_url: Mapped[str | None] = mapped_column(Text)
    licence_spdx: Mapped[str] = mapped_column(String(64))
    licence_url: Mapped[str] = mapped_column(Text)
    version: Mapped[str | None] = mapped_column(String(128))
    source_updated: Mapped[str | None] = mapped_column(String(64))
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)

    files: Mapped[list[AudioFile]] = relationship(back_populates="record")


class AudioFile(Base):
    """One audio file: the unit users search, listen to and export ("item" in the API)."""

    __tablename__ = "files"
    __table_args__ = (
        UniqueConstraint("record_id", "md5", name="uq_file_record_md5"),
        Index("ix_files_status", "status"),
        Index("ix_files_consent", "consent_state"),
        Index("ix_files_md5", "md5"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("source_records.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(Text)  # name inside the record (archive member path allowed)
    path: Mapped[str | None] = mapped_column(Text)  # local file (folder source) or cached download
    url: Mapped[str | None] = mapped_column(Text)  # where the file lives at its source
    md5: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str | None] = mapped_column(String(32))
    duration: Mapped[float | None] = mapped_column(Float)
    sample_rate: Mapped[int | None] = mapped_column(Integer)
    channels: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    creator: Mapped[str | None] = mapped_column(Text)
    licence_spdx: Mapped[str] = mapped_column(String(64))
    licence_url: Mapped[str] = mapped_column(Text)
    attribution: Mapped[str] = mapped_column(Text)
    # consent: active | withdrawn. Expiry makes an active consent lapse by itself.
    consent_state: Mapped[str] = mapped_column(String(16), default="active")
    consent_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # indexing: pending | indexed | failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    extractor_version: Mapped[str | None] = mapped_column(String(32))
    fingerprint: Mapped[str | None] = mapped_column(Text)
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("files.id", ondelete="SET NULL"))
    indexed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)

    record: Mapped[SourceRecord] = relationship(back_populates="files")
    segments: Mapped[list[Segment]] = relationship(
        back_populates="file", cascade="all, delete-orphan", order_by="Segment.start"
    )


class Segment(Base):
    """A window of a long recording, or the whole file (segment -1 is never stored)."""

    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("file_id", "extractor_version", "start", name="uq_segment"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"))
    extractor_version: Mapped[str] = mapped_column(String(32))
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    features: Mapped[dict[str, Any]] = mapped_column(JSON)
    quality: Mapped[dict[str, Any]] = mapped_column(JSON)
    vector: Mapped[bytes] = mapped_column(LargeBinary)

    file: Mapped[AudioFile] = relationship(back_populates="segments")


class FileFeatures(Base):
    """File-level features: named values, quality flags and the canonical raw vector."""

    __tablename__ = "file_features"
    __table_args__ = (UniqueConstraint("file_id", "extractor_version", name="uq_features_file_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"))
    extractor_version: Mapped[str] = mapped_column(String(32))
    features: Mapped[dict[str, Any]] = mapped_column(JSON)  # name -> number or label
    quality: Mapped[dict[str, Any]] = mapped_column(JSON)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, order of the data dictionary
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ProtocolLabel(Base):
    """A Local Contexts Traditional Knowledge or Biocultural label or notice on an item, record or dataset."""

    __tablename__ = "protocol_labels"
    __table_args__ = (Index("ix_protocol_target", "target_kind", "target_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_kind: Mapped[str] = mapped_column(String(16))  # item | record | dataset
    target_id: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(48))  # e.g. tk_community_use_only, see catalog.protocols
    community: Mapped[str] = mapped_column(String(256))
    text: Mapped[str | None] = mapped_column(Text)
    restricts: Mapped[bool] = mapped_column(Boolean, default=False)
    season_start: Mapped[str | None] = mapped_column(String(5))  # MM-DD, seasonal labels only
    season_end: Mapped[str | None] = mapped_column(String(5))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
