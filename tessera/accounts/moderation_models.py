"""Reports, the moderation audit log and cultural protocol labels (Local Contexts TK / BC labels)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tessera.core.models import Base, UtcDateTime, utcnow


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
