"""Reports and the moderation queue, the audit log, cultural protocol labels, and purging label content."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from tessera.catalog.db import Database
from tessera.catalog.errors import Conflict, InvalidInput, NotFound
from tessera.catalog.models import AudioFile
from tessera.catalog.moderation_models import AuditEntry, ProtocolLabel, Report
from tessera.catalog.protocols import KINDS
from tessera.catalog.store import searchable_clause
from tessera.catalog.taxonomy_models import Label, LabelHistory

REPORT_REASONS = ("wrong_licence", "harmful", "cultural_sensitivity", "other")
REPORT_TARGETS = ("item", "label")
REPORT_STATUSES = ("open", "resolved", "dismissed")
PROTOCOL_TARGETS = ("item", "record", "dataset")
PURGED = "[removed by a moderator]"
_MONTH_DAY = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")


def _iso(d: datetime | None) -> str | None:
    return d.isoformat() if d else None


class ModerationStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- audit ---------------------------------------------------------------------------
    @staticmethod
    def _audit(s: Any, actor: str, action: str, target_kind: str, target_id: int | None, **detail: Any) -> None:
        s.add(AuditEntry(actor=actor, action=action, target_kind=target_kind, target_id=target_id, detail=detail))

    def audit(self, actor: str, action: str, target_kind: str, target_id: int | None, **detail: Any) -> None:
        with self.db.session() as s:
            self._audit(s, actor, action, target_kind, target_id, **detail)

    def list_audit(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        """Moderation, account and consent actions, newest first, in one log.

        Consent events keep their own table (the crawler and the catalogue write them); they are merged
        here with ``source`` "consent", so a moderator reads one history of who did what.
        """
        from tessera.catalog.models import ConsentEvent

        want = offset + limit
        with self.db.session() as s:
            total = int(s.scalar(select(func.count(AuditEntry.id))) or 0)
            total += int(s.scalar(select(func.count(ConsentEvent.id))) or 0)
            mod = [{"id": a.id, "source": "moderation", "actor": a.actor, "action": a.action,
                    "target_kind": a.target_kind, "target_id": a.target_id, "detail": a.detail, "at": a.at}
                   for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(want))]
            con = [{"id": e.id, "source": "consent", "actor": e.actor or "unknown", "action": f"consent_{e.action}",
                    "target_kind": e.scope, "target_id": None,
                    "detail": {"target": e.target, "reason": e.reason, "files": e.file_ids,
                               "expires_at": _iso(e.expires_at)}, "at": e.at}
                   for e in s.scalars(select(ConsentEvent).order_by(ConsentEvent.id.desc()).limit(want))]
        merged = sorted(mod + con, key=lambda r: (r["at"] or datetime.min.replace(tzinfo=UTC), r["source"], r["id"]),
                        reverse=True)[offset:want]
        return [{**r, "at": _iso(r["at"])} for r in merged], total

    # -- reports -------------------------------------------------------------------------
    @staticmethod
    def _report_dict(r: Report) -> dict[str, Any]:
        return {"id": r.id, "target_kind": r.target_kind, "target_id": r.target_id, "reason": r.reason,
                "text": r.text, "reporter": r.reporter, "status": r.status, "action": r.action, "note": r.note,
                "handled_by": r.handled_by, "created_at": _iso(r.created_at), "handled_at": _iso(r.handled_at)}

    def report(self, target_kind: str, target_id: int, reason: str, text: str | None, reporter: str) -> dict[str, Any]:
        if target_kind not in REPORT_TARGETS:
            raise InvalidInput(f"a report is about one of: {', '.join(REPORT_TARGETS)}", target_kind=target_kind)
        if reason not in REPORT_REASONS:
            raise InvalidInput(f"a report's reason is one of: {', '.join(REPORT_REASONS)}", reason=reason)
        with self.db.session() as s:
            if target_kind == "item":
                found = s.scalar(select(AudioFile.id).where(AudioFile.id == target_id, searchable_clause()))
            else:
                found = s.scalar(select(Label.id).where(Label.id == target_id))
            if found is None:
                raise NotFound(f"{target_kind} {target_id} not found", id=target_id)
            r = Report(target_kind=target_kind, target_id=target_id, reason=reason, text=text, reporter=reporter,
                       status="open")
            s.add(r)
            s.flush()
            return self._report_dict(r)

    def get_report(self, report_id: int) -> dict[str, Any]:
        with self.db.session() as s:
            r = s.get(Report, report_id)
            if r is None:
                raise NotFound(f"report {report_id} not found", id=report_id)
            return self._report_dict(r)

    def list_reports(self, status: str | None, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        """The queue: oldest open reports first, so nothing waits forever."""
        if status is not None and status not in REPORT_STATUSES:
            raise InvalidInput(f"status is one of: {', '.join(REPORT_STATUSES)}", status=status)
        cond = [Report.status == status] if status else []
        with self.db.session() as s:
            total = int(s.scalar(select(func.count(Report.id)).where(*cond)) or 0)
            rows = s.scalars(select(Report).where(*cond).order_by(Report.id).limit(limit).offset(offset)).all()
            return [self._report_dict(r) for r in rows], total

    def close_report(self, report_id: int, status: str, action: str, note: str | None, actor: str) -> dict[str, Any]:
        with self.db.session() as s:
            r = s.get(Report, report_id)
            if r is None:
                raise NotFound(f"report {report_id} not found", id=report_id)
            if r.status != "open":
                raise Conflict(f"report {report_id} is already {r.status}", status=r.status)
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

    # -- cultural protocol labels --------------------------------------------------------
    @staticmethod
    def protocol_dict(p: ProtocolLabel) -> dict[str, Any]:
        kind = KINDS.get(p.code)
        return {"id": p.id, "target_kind": p.target_kind, "target_id": p.target_id, "code": p.code,
                "name": kind.name if kind else p.code, "kind": p.code.split("_")[0].upper(),
                "community": p.community, "text": p.text, "restricts": p.restricts,
                "season_start": p.season_start, "season_end": p.season_end, "created_by": p.created_by,
                "created_at": _iso(p.created_at)}

    def add_protocol_label(self, target_kind: str, target_id: int, code: str, community: str, text: str | None,
                           actor: str, season_start: str | None = None,
                           season_end: str | None = None) -> dict[str, Any]:
        if target_kind not in PROTOCOL_TARGETS:
            raise InvalidInput(f"a protocol label goes on one of: {', '.join(PROTOCOL_TARGETS)}")
        kind = KINDS.get(code)
        if kind is None:
            raise InvalidInput(f"unknown Local Contexts label {code!r}", known=sorted(KINDS))
        if not community.strip():
            raise InvalidInput("a protocol label names its community")
        for v in (season_start, season_end):
            if v is not None and not _MONTH_DAY.match(v):
                raise InvalidInput("a season runs from MM-DD to MM-DD", value=v)
        if kind.seasonal and (season_start is None) != (season_end is None):
            raise InvalidInput("a season needs both its start and its end")
        from tessera.catalog.dataset_models import Dataset
        from tessera.catalog.models import SourceRecord

        model = {"item": AudioFile, "record": SourceRecord, "dataset": Dataset}[target_kind]
        with self.db.session() as s:
            if s.get(model, target_id) is None:
                raise NotFound(f"{target_kind} {target_id} not found", id=target_id)
            p = ProtocolLabel(target_kind=target_kind, target_id=target_id, code=code, community=community.strip(),
                              text=text, restricts=kind.restricts, season_start=season_start,
                              season_end=season_end, created_by=actor)
            s.add(p)
            s.flush()
            self._audit(s, actor, "protocol_label_added", target_kind, target_id, code=code, community=p.community)
            return self.protocol_dict(p)

    def remove_protocol_label(self, label_id: int, actor: str) -> None:
        with self.db.session() as s:
            p = s.get(ProtocolLabel, label_id)
            if p is None:
                raise NotFound(f"protocol label {label_id} not found", id=label_id)
            self._audit(s, actor, "protocol_label_removed", p.target_kind, p.target_id, code=p.code,
                        community=p.community)
            s.delete(p)

    def protocol_fingerprint(self) -> str:
        """A digest of every restricting label (what decides who sees what): changes whenever one does."""
        import hashlib

        p = ProtocolLabel
        with self.db.session() as s:
            rows = s.execute(select(p.id, p.target_kind, p.target_id, p.community, p.season_start, p.season_end)
                             .where(p.restricts.is_(True)).order_by(p.id)).all()
        return hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()[:16]

    def protocol_labels(self, target_kind: str | None = None, target_id: int | None = None,
                        limit: int = 200, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        cond = []
        if target_kind is not None:
            cond.append(ProtocolLabel.target_kind == target_kind)
        if target_id is not None:
            cond.append(ProtocolLabel.target_id == target_id)
        with self.db.session() as s:
            total = int(s.scalar(select(func.count(ProtocolLabel.id)).where(*cond)) or 0)
            rows = s.scalars(select(ProtocolLabel).where(*cond).order_by(ProtocolLabel.id)
                             .limit(limit).offset(offset)).all()
            return [self.protocol_dict(p) for p in rows], total

    def protocol_labels_for_items(self, file_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        """Labels on each item, its own and its source record's."""
        if not file_ids:
            return {}
        with self.db.session() as s:
            rec_of = {int(f): int(r) for f, r in s.execute(select(AudioFile.id, AudioFile.record_id)
                                                           .where(AudioFile.id.in_(list(file_ids))))}
            rows = s.scalars(select(ProtocolLabel).where(
                ((ProtocolLabel.target_kind == "item") & ProtocolLabel.target_id.in_(list(rec_of)))
                | ((ProtocolLabel.target_kind == "record") & ProtocolLabel.target_id.in_(sorted(set(rec_of.values()))))
            ).order_by(ProtocolLabel.id)).all()
            out: dict[int, list[dict[str, Any]]] = {f: [] for f in rec_of}
            for p in rows:
                d = self.protocol_dict(p)
                for f, r in rec_of.items():
                    if p.target_id == (f if p.target_kind == "item" else r):
                        out[f].append(d)
            return out
