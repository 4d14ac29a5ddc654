"""Tables of the consent stage: consent events (the audit trail of consent) and the crawl opt-out registry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tessera.core.models import Base, UtcDateTime, utcnow


class ConsentEvent(Base):
    """Audit of consent changes: who, what, when, why, never the content itself."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))  # file | record | creator
    target: Mapped[str] = mapped_column(Text)  # id or creator name
    action: Mapped[str] = mapped_column(String(32))  # withdraw | grant | expire
    actor: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    file_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class OptOut(Base):
    """Works that future crawls must not harvest."""

    __tablename__ = "opt_outs"
    __table_args__ = (UniqueConstraint("kind", "value", name="uq_opt_out"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # creator | orcid | ia_uploader | zenodo_community
    value: Mapped[str] = mapped_column(String(512))  # stored normalised (see accounts.normalise_opt_out)
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class PurgeJob(Base):
    """A purge still owed: written in the same transaction as the consent change that calls for it.

    The consent service applies it (every step idempotent) and marks it done; a crash or a failing
    step leaves it pending, and the next sweep retries it, so a withdrawal is never half applied.
    """

    __tablename__ = "purge_jobs"
    __table_args__ = (Index("ix_purge_jobs_done", "done_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
