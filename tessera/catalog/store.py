"""The catalogue stage's store: source records and their audio files (items), read as one viewer sees them.

Other packages hand it plain data (dataclasses) and get plain data or detached ORM rows back. Every
read that can return items applies ``visible_clause(self.viewer)``: a store is built for one viewer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, true
from sqlalchemy.orm import selectinload

from tessera.catalog.models import AudioFile, FileFeatures, Segment, SourceRecord
from tessera.catalog.visibility import Viewer, hidden_targets, now_utc, visible_clause
from tessera.core import licences
from tessera.core.db import Database
from tessera.core.errors import InvalidInput, NotFound
from tessera.core.vocab import LICENCE_CLASSES, SOURCE_KINDS

__all__ = ["Catalog", "FileIn", "ItemFilter", "RecordIn", "licence_class_clause", "now_utc"]


@dataclass
class RecordIn:
    kind: str
    identifier: str
    title: str
    licence: str  # anything licences.normalise accepts
    creator: str | None = None
    description: str | None = None
    keywords: list[str] = field(default_factory=list)
    doi: str | None = None
    page_url: str | None = None
    version: str | None = None
    source_updated: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class FileIn:
    filename: str
    md5: str
    size: int
    path: str | None = None
    url: str | None = None
    format: str | None = None
    duration: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    title: str | None = None
    creator: str | None = None
    licence: str | None = None  # defaults to the record's


@dataclass
class ItemFilter:
    licence: str | None = None  # SPDX id
    licence_class: str | None = None  # one of core.vocab.LICENCE_CLASSES
    source: str | None = None  # folder | zenodo | internet_archive
    record_id: int | None = None
    status: str | None = None


def licence_class_clause(licence_class: str) -> ColumnElement[bool]:
    """One meaning of each licence class (``core.vocab.LICENCE_CLASSES``) for every surface that filters."""
    nc, nd = AudioFile.licence_spdx.contains("-NC"), AudioFile.licence_spdx.contains("-ND")
    if licence_class == "open":
        return and_(~nc, ~nd)
    if licence_class == "commercial":
        return ~nc
    if licence_class == "derivatives":
        return ~nd
    if licence_class == "restricted":
        return or_(nc, nd)
    raise InvalidInput(f"unknown licence class {licence_class!r}; one of {', '.join(LICENCE_CLASSES)}",
                       filter="licence_class")


class Catalog:
    """Records and items as ``viewer`` may see them (writes are the operator's: crawlers, ``tessera add``)."""

    def __init__(self, db: Database, viewer: Viewer) -> None:
        self.db = db
        self.viewer = viewer

    # -- records and files ---------------------------------------------------------------
    def upsert_record(self, rec: RecordIn) -> int:
        if rec.kind not in SOURCE_KINDS:
            raise InvalidInput(f"unknown source kind {rec.kind!r}")
        lic = licences.normalise(rec.licence)
        with self.db.session() as s:
            row = s.scalar(
                select(SourceRecord).where(
                    SourceRecord.kind == rec.kind, SourceRecord.identifier == rec.identifier
                )
            )
            if row is None:
                row = SourceRecord(kind=rec.kind, identifier=rec.identifier)
                s.add(row)
            row.title = rec.title
            row.creator = rec.creator
            row.description = rec.description
            row.keywords = list(rec.keywords)
            row.doi = rec.doi
            row.page_url = rec.page_url
            row.licence_spdx = lic.spdx
            row.licence_url = lic.url
            row.version = rec.version
            row.source_updated = rec.source_updated
            row.extra = dict(rec.extra)
            s.flush()
            return row.id

    def add_file(self, record_id: int, f: FileIn) -> tuple[int, bool]:
        """Register a file; the same md5 in the same record is the same file. Returns (id, created)."""
        with self.db.session() as s:
            rec = s.get(SourceRecord, record_id)
            if rec is None:
                raise NotFound(f"record {record_id} not found")
            lic = licences.normalise(f.licence) if f.licence else licences.normalise(rec.licence_spdx)
            if f.licence is None and rec.licence_url:
                lic = licences.Licence(**{**lic.as_dict(), "url": rec.licence_url})
            title = f.title or f.filename.rsplit("/", 1)[-1]
            creator = f.creator if f.creator is not None else rec.creator
            source = rec.page_url or (f"doi:{rec.doi}" if rec.doi else None) or f.url
            row = s.scalar(select(AudioFile).where(AudioFile.record_id == record_id, AudioFile.md5 == f.md5))
            created = row is None
            if row is None:
                # the same bytes elsewhere in the catalogue: link, do not index twice
                # (looked up before the new row exists, so autoflush cannot find the row itself)
                other = s.scalar(
                    select(AudioFile.id).where(AudioFile.md5 == f.md5, AudioFile.duplicate_of.is_(None))
                    .order_by(AudioFile.id).limit(1)
                )
                row = AudioFile(record_id=record_id, md5=f.md5, duplicate_of=other)
                s.add(row)
            row.filename = f.filename
            row.path = f.path or row.path
            row.url = f.url or row.url
            row.size = f.size
            row.format = f.format
            row.duration = f.duration if f.duration is not None else row.duration
            row.sample_rate = f.sample_rate if f.sample_rate is not None else row.sample_rate
            row.channels = f.channels if f.channels is not None else row.channels
            row.title = title
            row.creator = creator
            row.licence_spdx = lic.spdx
            row.licence_url = lic.url
            row.attribution = licences.attribution_line(title, creator, source, lic)
            s.flush()
            return row.id, created

    def _record_visible(self) -> ColumnElement[bool]:
        """A record under a restricting protocol label is hidden, like its items, from those it excludes."""
        if self.viewer.sees_all:
            return true()
        return SourceRecord.id.not_in(hidden_targets("record", self.viewer, now_utc()))

    def get_record(self, record_id: int) -> SourceRecord:
        with self.db.session() as s:
            row = s.scalar(select(SourceRecord).where(SourceRecord.id == record_id, self._record_visible()))
            if row is None:
                raise NotFound(f"record {record_id} not found", id=record_id)
            return row

    def get_records(self, record_ids: Sequence[int]) -> dict[int, SourceRecord]:
        if not record_ids:
            return {}
        with self.db.session() as s:
            rows = s.scalars(select(SourceRecord).where(SourceRecord.id.in_(list(record_ids)),
                                                        self._record_visible())).all()
            return {r.id: r for r in rows}

    def record_ids_of(self) -> dict[int, int]:
        """file id -> record id for every searchable file (one scan; used to build record profiles)."""
        with self.db.session() as s:
            return {int(f): int(r) for f, r in s.execute(select(AudioFile.id, AudioFile.record_id)
                                                          .where(visible_clause(self.viewer)))}

    def count_files(self, record_id: int | None = None) -> int:
        with self.db.session() as s:
            q = select(func.count(AudioFile.id)).where(visible_clause(self.viewer))
            if record_id is not None:
                q = q.where(AudioFile.record_id == record_id)
            return int(s.scalar(q) or 0)

    # -- reading items -------------------------------------------------------------------
    def _filter_clauses(self, flt: ItemFilter) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = [visible_clause(self.viewer)]
        if flt.licence:
            clauses.append(AudioFile.licence_spdx == licences.normalise(flt.licence).spdx)
        if flt.licence_class:
            clauses.append(licence_class_clause(flt.licence_class))
        if flt.source:
            if flt.source not in SOURCE_KINDS:
                raise InvalidInput(f"unknown source {flt.source!r}; one of {', '.join(SOURCE_KINDS)}")
            clauses.append(SourceRecord.kind == flt.source)
        if flt.record_id is not None:
            clauses.append(AudioFile.record_id == flt.record_id)
        if flt.status:
            clauses.append(AudioFile.status == flt.status)
        return clauses

    def list_items(self, flt: ItemFilter, limit: int, offset: int) -> tuple[list[AudioFile], int]:
        clauses = self._filter_clauses(flt)
        with self.db.session() as s:
            total = s.scalar(
                select(func.count(AudioFile.id)).join(SourceRecord, SourceRecord.id == AudioFile.record_id)
                .where(*clauses)
            ) or 0
            rows = s.scalars(
                select(AudioFile).join(SourceRecord, SourceRecord.id == AudioFile.record_id).where(*clauses)
                .options(selectinload(AudioFile.record)).order_by(AudioFile.id).limit(limit).offset(offset)
            ).all()
            return list(rows), int(total)

    def get_item(self, file_id: int) -> AudioFile:
        """A visible item (consent active and not expired), or NotFound."""
        with self.db.session() as s:
            row = s.scalar(
                select(AudioFile).where(AudioFile.id == file_id, visible_clause(self.viewer))
                .options(selectinload(AudioFile.record))
            )
            if row is None:
                raise NotFound(f"item {file_id} not found", id=file_id)
            return row

    def get_items(self, file_ids: Sequence[int]) -> dict[int, AudioFile]:
        if not file_ids:
            return {}
        with self.db.session() as s:
            rows = s.scalars(
                select(AudioFile).where(AudioFile.id.in_(list(file_ids)), visible_clause(self.viewer))
                .options(selectinload(AudioFile.record))
            ).all()
            return {r.id: r for r in rows}

    def get_features(self, file_id: int) -> FileFeatures | None:
        with self.db.session() as s:
            return s.scalar(
                select(FileFeatures).join(AudioFile, AudioFile.id == FileFeatures.file_id)
                .where(FileFeatures.file_id == file_id, visible_clause(self.viewer))
                .order_by(FileFeatures.id.desc()).limit(1)
            )

    def get_segments(self, file_id: int) -> list[Segment]:
        with self.db.session() as s:
            return list(s.scalars(select(Segment).join(AudioFile, AudioFile.id == Segment.file_id)
                                  .where(Segment.file_id == file_id, visible_clause(self.viewer))
                                  .order_by(Segment.start)))

    def stats(self) -> dict[str, int]:
        with self.db.session() as s:
            out: dict[str, int] = {}
            for status, n in s.execute(select(AudioFile.status, func.count()).where(visible_clause(self.viewer))
                                       .group_by(AudioFile.status)):
                out[status] = int(n)
            out["records"] = int(s.scalar(select(func.count(SourceRecord.id))) or 0)
            return out
