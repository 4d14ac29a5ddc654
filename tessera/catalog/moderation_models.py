"""Reports, the moderation audit log and cultural protocol labels (Local Contexts TK / BC labels)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tessera.catalog.models import Base, UtcDateTime, utcnow


class Report(Base):
    """Anyone's report about an item or a label; moderators work through the open ones."""

    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_status", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_kind: Mapped[str] = mapped_column(String(16))  # item | label
    target_id: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32))  # wrong_licence | harmful | cultural_sensitivity | other
    text: Mapped[str | None] = mapped_column(Text)
    reporter: Mapped[str] = mapped_column(String(128))  # a user name, or "anonymous"
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | resolved | dismissed
    action: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    handled_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class AuditEntry(Base):
    """Who did what to what, when and why; never the content itself."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(48))
    target_kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


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
