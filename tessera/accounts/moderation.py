"""Reports and the moderation queue, the audit log, and purging label content."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import func, select

from tessera.accounts.moderation_models import Report
from tessera.catalog.models import AudioFile
from tessera.catalog.visibility import Viewer, visible_clause
from tessera.core.audit import AuditEntry
from tessera.core.db import Database
from tessera.core.errors import Conflict, InvalidInput, NotFound
from tessera.taxonomy.models import Label, LabelHistory

REPORT_REASONS = ("wrong_licence", "harmful", "cultural_sensitivity", "other")
REPORT_TARGETS = ("item", "label")
REPORT_STATUSES = ("open", "resolved", "dismissed")
PURGED = "[removed by a moderator]"


def _iso(d: datetime | None) -> str | None:
    return d.isoformat() if d else None


def _aware(d: datetime | None) -> datetime:
    return d or datetime.min.replace(tzinfo=UTC)


class ReportRecord(BaseModel):
    """A report of an item or a label, and what a moderator did about it."""

    id: int
    target_kind: Literal["item", "label"]
    target_id: int
    reason: Literal["wrong_licence", "harmful", "cultural_sensitivity", "other"]
    text: str | None
    reporter: str
    status: Literal["open", "resolved", "dismissed"]
    action: str | None
    note: str | None
    handled_by: str | None
    created_at: datetime | None
    handled_at: datetime | None


class AuditRecord(BaseModel):
    """One line of the merged log: a moderation or account action, or a consent event."""

    id: int
    source: Literal["moderation", "consent"]
    actor: str
    action: str
    target_kind: str
    target_id: int | None
    detail: dict[str, Any] = Field(description="what the action did; its members depend on the action")
    at: datetime | None


class ModerationStore:
    def __init__(self, db: Database, viewer: Viewer) -> None:
        self.db = db
        self.viewer = viewer  # every read of items applies what this viewer may see

    # -- audit ---------------------------------------------------------------------------
    @staticmethod
    def _audit(s: Any, actor: str, action: str, target_kind: str, target_id: int | None, **detail: Any) -> None:
        s.add(AuditEntry(actor=actor, action=action, target_kind=target_kind, target_id=target_id, detail=detail))

    def audit(self, actor: str, action: str, target_kind: str, target_id: int | None, **detail: Any) -> None:
        with self.db.session() as s:
            self._audit(s, actor, action, target_kind, target_id, **detail)

    def list_audit(self, limit: int, offset: int) -> tuple[list[AuditRecord], int]:
        """Moderation, account and consent actions, newest first, in one log.

        Consent events keep their own table (the crawler and the catalogue write them); they are merged
        here with ``source`` "consent", so a moderator reads one history of who did what.
        """
        from tessera.consent.models import ConsentEvent

        want = offset + limit
        with self.db.session() as s:
            total = int(s.scalar(select(func.count(AuditEntry.id))) or 0)
            total += int(s.scalar(select(func.count(ConsentEvent.id))) or 0)
            mod = [AuditRecord(id=a.id, source="moderation", actor=a.actor, action=a.action,
                               target_kind=a.target_kind, target_id=a.target_id, detail=a.detail or {}, at=a.at)
                   for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(want))]
            con = [AuditRecord(id=e.id, source="consent", actor=e.actor or "unknown", action=f"consent_{e.action}",
                               target_kind=e.scope, target_id=None,
                               detail={"target": e.target, "reason": e.reason, "files": e.file_ids,
                                       "expires_at": _iso(e.expires_at)}, at=e.at)
                   for e in s.scalars(select(ConsentEvent).order_by(ConsentEvent.id.desc()).limit(want))]
        merged = sorted(mod + con, key=lambda r: (_aware(r.at), r.source, r.id), reverse=True)[offset:want]
        return merged, total

    # -- reports -------------------------------------------------------------------------
    @staticmethod
    def _report_dict(r: Report) -> ReportRecord:
        return ReportRecord.model_validate(
            {"id": r.id, "target_kind": r.target_kind, "target_id": r.target_id, "reason": r.reason,
             "text": r.text, "reporter": r.reporter, "status": r.status, "action": r.action, "note": r.note,
             "handled_by": r.handled_by, "created_at": r.created_at, "handled_at": r.handled_at})

    def report(self, target_kind: str, target_id: int, reason: str, text: str | None, reporter: str) -> ReportRecord:
        if target_kind not in REPORT_TARGETS:
            raise InvalidInput(f"a report is about one of: {', '.join(REPORT_TARGETS)}", target_kind=target_kind)
        if reason not in REPORT_REASONS:
            raise InvalidInput(f"a report's reason is one of: {', '.join(REPORT_REASONS)}", reason=reason)
        with self.db.session() as s:
            if target_kind == "item":
                found = s.scalar(select(AudioFile.id).where(AudioFile.id == target_id, visible_clause(self.viewer)))
            else:
                found = s.scalar(select(Label.id).where(Label.id == target_id))
            if found is None:
                raise NotFound(f"{target_kind} {target_id} not found", id=target_id)
            r = Report(target_kind=target_kind, target_id=target_id, reason=reason, text=text, reporter=reporter,
                       status="open")
            s.add(r)
            s.flush()
            return self._report_dict(r)

    def get_report(self, report_id: int) -> ReportRecord:
        with self.db.session() as s:
            r = s.get(Report, report_id)
            if r is None:
                raise NotFound(f"report {report_id} not found", id=report_id)
            return self._report_dict(r)

    def list_reports(self, status: str | None, limit: int, offset: int) -> tuple[list[ReportRecord], int]:
        """The queue: oldest open reports first, so nothing waits forever."""
        if status is not None and status not in REPORT_STATUSES:
            raise InvalidInput(f"status is one of: {', '.join(REPORT_STATUSES)}", given=status)
        cond = [Report.status == status] if status else []
        with self.db.session() as s:
            total = int(s.scalar(select(func.count(Report.id)).where(*cond)) or 0)
            rows = s.scalars(select(Report).where(*cond).order_by(Report.id).limit(limit).offset(offset)).all()
            return [self._report_dict(r) for r in rows], total

    def close_report(self, report_id: int, status: str, action: str, note: str | None,
                     actor: str) -> ReportRecord:
        with self.db.session() as s:
            r = s.get(Report, report_id)
            if r is None:
                raise NotFound(f"report {report_id} not found", id=report_id)
            if r.status != "open":
                raise Conflict(f"report {report_id} is already {r.status}", report_status=r.status)
            r.status, r.action, r.note, r.handled_by = status, action, note, actor
            r.handled_at = datetime.now(UTC)
            self._audit(s, actor, f"report_{status}", r.target_kind, r.target_id, report_id=r.id, taken=action)
            s.flush()
            return self._report_dict(r)

    # -- label content purge -------------------------------------------------------------
    def purge_label(self, label_id: int, actor: str, reason: str | None) -> None:
        """Erase a label's words and its history's content (for what must not be kept); the audit keeps the fact."""
        with self.db.session() as s:
            lab = s.get(Label, label_id)
            if lab is None:
                raise NotFound(f"label {label_id} not found", id=label_id)
            lab.text, lab.description, lab.cultural_context, lab.status = PURGED, None, None, "removed"
            for h in s.scalars(select(LabelHistory).where(LabelHistory.label_id == label_id)):
                h.detail = {"purged": True}
            self._audit(s, actor, "label_purged", "label", label_id, reason=reason)
