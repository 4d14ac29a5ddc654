"""Tables of the crawler stage: what was seen but not taken in, and resumable crawl cursors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tessera.core.models import Base, UtcDateTime, utcnow


class RejectedRecord(Base):
    """A source record or file that was seen but not taken in, with the reason."""

    __tablename__ = "rejected"
    __table_args__ = (UniqueConstraint("kind", "identifier", "filename", name="uq_rejected"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    identifier: Mapped[str] = mapped_column(String(512))
    filename: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class CrawlState(Base):
    """Where a crawl got to, so that a killed crawl resumes."""

    __tablename__ = "crawl_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(512), unique=True)  # source + normalised query
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
