"""The audit log every stage writes to: who did what to what, when and why; never the content."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from tessera.core.models import Base, UtcDateTime, utcnow

OPERATOR = "operator"  # the actor recorded when someone at the machine (the CLI) acts


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


def audit(s: Session, actor: str | None, action: str, target_kind: str, target_id: int | None,
          **detail: Any) -> None:
    """Add one entry in the caller's transaction, so the entry and the act commit together."""
    s.add(AuditEntry(actor=actor or OPERATOR, action=action, target_kind=target_kind, target_id=target_id,
                     detail=detail))
