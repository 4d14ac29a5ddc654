"""The crawler stage's store: what was seen but not taken in, crawl cursors, and records by source identifier."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update

from tessera.catalog.models import AudioFile, SourceRecord
from tessera.catalog.visibility import now_utc
from tessera.core.db import Database
from tessera.crawlers.models import CrawlState, RejectedRecord


class CrawlStore:
    """The crawlers' own bookkeeping; the operator's (crawlers see every record they harvested)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record_rejected(self, kind: str, identifier: str, reason: str, detail: str | None = None,
                        filename: str = "", url: str | None = None) -> None:
        with self.db.session() as s:
            row = s.scalar(select(RejectedRecord).where(
                RejectedRecord.kind == kind, RejectedRecord.identifier == identifier,
                RejectedRecord.filename == filename))
            if row is None:
                row = RejectedRecord(kind=kind, identifier=identifier, filename=filename)
                s.add(row)
            row.reason = reason
            row.detail = detail
            row.url = url
            row.seen_at = now_utc()

    def clear_rejected(self, kind: str, identifier: str) -> None:
        with self.db.session() as s:
            s.execute(delete(RejectedRecord).where(
                RejectedRecord.kind == kind, RejectedRecord.identifier == identifier))

    def list_rejected(self, limit: int, offset: int, kind: str | None = None,
                      reason: str | None = None) -> tuple[list[RejectedRecord], int]:
        clauses = []
        if kind:
            clauses.append(RejectedRecord.kind == kind)
        if reason:
            clauses.append(RejectedRecord.reason == reason)
        with self.db.session() as s:
            total = s.scalar(select(func.count(RejectedRecord.id)).where(*clauses)) or 0
            rows = s.scalars(select(RejectedRecord).where(*clauses).order_by(RejectedRecord.id)
                             .limit(limit).offset(offset)).all()
            return list(rows), int(total)

    def get_crawl_state(self, key: str) -> dict[str, Any]:
        with self.db.session() as s:
            row = s.scalar(select(CrawlState).where(CrawlState.key == key))
            return dict(row.state) if row else {}

    def set_crawl_state(self, source: str, key: str, state: dict[str, Any]) -> None:
        with self.db.session() as s:
            row = s.scalar(select(CrawlState).where(CrawlState.key == key))
            if row is None:
                row = CrawlState(source=source, key=key)
                s.add(row)
            row.state = dict(state)

    def find_record(self, kind: str, identifier: str) -> SourceRecord | None:
        with self.db.session() as s:
            return s.scalar(select(SourceRecord).where(
                SourceRecord.kind == kind, SourceRecord.identifier == identifier))

    def record_files_present(self, record_id: int) -> bool:
        """The record has files, all still searchable and with their cached copy on disk."""
        with self.db.session() as s:
            rows = s.execute(select(AudioFile.path, AudioFile.consent_state)
                             .where(AudioFile.record_id == record_id)).all()
        return bool(rows) and all(r.consent_state == "active" and r.path and Path(r.path).exists() for r in rows)

    def find_records_by_extra(self, kind: str, key: str, value: str) -> list[SourceRecord]:
        """Records of a kind whose ``extra[key]`` is ``value`` (e.g. the Zenodo versions of one concept)."""
        with self.db.session() as s:
            return list(s.scalars(select(SourceRecord).where(
                SourceRecord.kind == kind, SourceRecord.extra[key].as_string() == value)
                .order_by(SourceRecord.id)))

    def rekey_record(self, record_id: int, identifier: str) -> None:
        """Point a record at a new source identifier (a new version of the same work): files keep their ids."""
        with self.db.session() as s:
            s.execute(update(SourceRecord).where(SourceRecord.id == record_id).values(identifier=identifier))
