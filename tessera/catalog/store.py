"""The only module that runs queries against the catalogue.

Other packages hand it plain data (dataclasses, numpy arrays) and get plain
data or detached ORM rows back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Select, and_, delete, func, or_, select, true, update
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload

from tessera.catalog import licences
from tessera.catalog.db import Database
from tessera.catalog.errors import InvalidInput, NotFound
from tessera.catalog.models import (
    AudioFile,
    ConsentEvent,
    CrawlState,
    FileFeatures,
    RejectedRecord,
    Segment,
    SourceRecord,
)
from tessera.catalog.moderation_models import ProtocolLabel
from tessera.catalog.protocols import Viewer, current_viewer

SOURCE_KINDS = ("folder", "zenodo", "internet_archive")
# formats (as the registration probe names them) that keep every sample: preferred as canonical copy
LOSSLESS_FORMATS = frozenset({"wav", "flac", "aiff", "aif", "w64", "wavex", "rf64", "caf"})


def now_utc() -> datetime:
    return datetime.now(UTC)


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
class IndexTask:
    file_id: int
    path: str
    md5: str
    size: int
    duration: float | None = None  # what the header claimed at registration (truncation, memory budget)


@dataclass
class SegmentOut:
    start: float
    end: float
    features: dict[str, Any]
    quality: dict[str, Any]
    vector: np.ndarray


@dataclass
class FeaturesOut:
    extractor_version: str
    duration: float
    sample_rate: int
    channels: int
    features: dict[str, Any]
    quality: dict[str, Any]
    vector: np.ndarray
    fingerprint: str | None = None
    segments: list[SegmentOut] = field(default_factory=list)


@dataclass
class ItemFilter:
    licence: str | None = None  # SPDX id
    licence_class: str | None = None  # open | restricted
    source: str | None = None  # folder | zenodo | internet_archive
    record_id: int | None = None
    status: str | None = None


@dataclass
class VectorSet:
    """Vectors of searchable files (and their segments) for one extractor version."""

    file_ids: np.ndarray  # int64, one per row
    segment_ids: np.ndarray  # int64, -1 for a file-level row
    starts: np.ndarray
    ends: np.ndarray
    matrix: np.ndarray  # float32 (n, d)


def searchable_clause(at: datetime | None = None) -> ColumnElement[bool]:
    """Consent rule shared by every query for searchable items, plus the viewer's cultural protocols."""
    at = at or now_utc()
    rule = and_(
        AudioFile.consent_state == "active",
        or_(AudioFile.consent_expires_at.is_(None), AudioFile.consent_expires_at > at),
    )
    viewer = current_viewer()
    return rule if viewer.sees_all else and_(rule, _protocol_clause(viewer, at))


def _protocol_clause(viewer: Viewer, at: datetime) -> ColumnElement[bool]:
    """Hide items (or whole records) under a restricting protocol label of a community the viewer is not in.

    A seasonal label restricts only outside its season (MM-DD to MM-DD, possibly across the new year).
    """
    return and_(
        AudioFile.id.not_in(_hidden_targets("item", viewer, at)),
        AudioFile.record_id.not_in(_hidden_targets("record", viewer, at)),
    )


def _hidden_targets(target_kind: str, viewer: Viewer, at: datetime) -> Select[int]:
    """Ids of the items, records or datasets a restricting label hides from ``viewer`` at ``at``."""
    md = at.strftime("%m-%d")
    p = ProtocolLabel
    in_season = and_(
        p.season_start.is_not(None), p.season_end.is_not(None),
        or_(and_(p.season_start <= p.season_end, p.season_start <= md, p.season_end >= md),
            and_(p.season_start > p.season_end, or_(p.season_start <= md, p.season_end >= md))),
    )
    hidden = and_(p.restricts.is_(True), p.community.not_in(sorted(viewer.communities)), ~in_season)
    return select(p.target_id).where(p.target_kind == target_kind, hidden)


def dataset_visible_clause(dataset_id: InstrumentedAttribute[int], at: datetime | None = None) -> ColumnElement[bool]:
    """A dataset under a restricting protocol label is hidden, with its export, from those it excludes."""
    viewer = current_viewer()
    if viewer.sees_all:
        return true()
    return dataset_id.not_in(_hidden_targets("dataset", viewer, at or now_utc()))


class Catalog:
    def __init__(self, db: Database) -> None:
        self.db = db

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

    def get_record(self, record_id: int) -> SourceRecord:
        with self.db.session() as s:
            row = s.get(SourceRecord, record_id)
            if row is None:
                raise NotFound(f"record {record_id} not found", id=record_id)
            return row

    def get_records(self, record_ids: Sequence[int]) -> dict[int, SourceRecord]:
        if not record_ids:
            return {}
        with self.db.session() as s:
            rows = s.scalars(select(SourceRecord).where(SourceRecord.id.in_(list(record_ids)))).all()
            return {r.id: r for r in rows}

    def record_ids_of(self) -> dict[int, int]:
        """file id -> record id for every searchable file (one scan; used to build record profiles)."""
        with self.db.session() as s:
            return {int(f): int(r) for f, r in s.execute(select(AudioFile.id, AudioFile.record_id)
                                                          .where(searchable_clause()))}

    def count_files(self, record_id: int | None = None) -> int:
        with self.db.session() as s:
            q = select(func.count(AudioFile.id))
            if record_id is not None:
                q = q.where(AudioFile.record_id == record_id)
            return int(s.scalar(q) or 0)

    # -- indexing ------------------------------------------------------------------------
    def files_to_index(self, extractor_version: str, retry_failed: bool = False) -> list[IndexTask]:
        """Files with no features of this extractor version (new, changed or from an older extractor)."""
        with self.db.session() as s:
            cond = or_(AudioFile.status == "pending", AudioFile.extractor_version != extractor_version,
                       AudioFile.extractor_version.is_(None))
            if not retry_failed:
                cond = and_(cond, AudioFile.status != "failed")
            else:
                cond = or_(cond, AudioFile.status == "failed")
            rows = s.execute(
                select(AudioFile.id, AudioFile.path, AudioFile.md5, AudioFile.size, AudioFile.duration)
                .where(cond, searchable_clause(), AudioFile.path.is_not(None))
                .order_by(AudioFile.id)
            ).all()
            return [IndexTask(r.id, r.path or "", r.md5, r.size, r.duration) for r in rows]

    def save_features(self, file_id: int, out: FeaturesOut) -> None:
        with self.db.session() as s:
            row = s.get(AudioFile, file_id)
            if row is None:
                return  # withdrawn and purged while we computed: nothing to keep
            s.execute(delete(FileFeatures).where(FileFeatures.file_id == file_id))
            s.execute(delete(Segment).where(Segment.file_id == file_id))
            s.add(FileFeatures(
                file_id=file_id, extractor_version=out.extractor_version, features=out.features,
                quality=out.quality, vector=np.asarray(out.vector, dtype=np.float32).tobytes(),
            ))
            for seg in out.segments:
                s.add(Segment(
                    file_id=file_id, extractor_version=out.extractor_version, start=seg.start, end=seg.end,
                    features=seg.features, quality=seg.quality,
                    vector=np.asarray(seg.vector, dtype=np.float32).tobytes(),
                ))
            row.status = "indexed"
            row.error = None
            row.extractor_version = out.extractor_version
            row.duration = out.duration
            row.sample_rate = out.sample_rate
            row.channels = out.channels
            row.fingerprint = out.fingerprint
            row.indexed_at = now_utc()
            row.attempts = (row.attempts or 0) + 1
            # fingerprint duplicates are linked by the indexer (fingerprint_candidates, link_duplicates):
            # transcodes differ in their fingerprint strings, so no query here can find them

    # -- duplicates ----------------------------------------------------------------------
    def fingerprint_candidates(self, file_id: int, duration: float, window: float) -> list[tuple[int, str]]:
        """(id, fingerprint) of other searchable indexed files whose duration is within ``window`` s.

        Any order of arrival works: the lookup covers every id, older or newer, linked or not.
        """
        with self.db.session() as s:
            rows = s.execute(
                select(AudioFile.id, AudioFile.fingerprint).where(
                    AudioFile.id != file_id, AudioFile.status == "indexed", AudioFile.fingerprint.is_not(None),
                    AudioFile.duration.between(duration - window, duration + window), searchable_clause(),
                ).order_by(AudioFile.id)
            ).all()
            return [(int(r.id), str(r.fingerprint)) for r in rows]

    def link_duplicates(self, file_id: int, same_as: Sequence[int]) -> int | None:
        """Join ``file_id`` and ``same_as`` (and whatever they are already linked to) into one group.

        One canonical file per group stays in search: a lossless copy before a lossy one, then the
        oldest. Returns the canonical id, or None when there is nothing to link.
        """
        if not same_as:
            return None
        with self.db.session() as s:
            ids = {file_id, *same_as}
            rows = s.execute(select(AudioFile.id, AudioFile.duplicate_of).where(AudioFile.id.in_(ids))).all()
            roots = {int(r.duplicate_of or r.id) for r in rows}
            members = s.execute(select(AudioFile.id, AudioFile.format).where(
                or_(AudioFile.id.in_(roots), AudioFile.duplicate_of.in_(roots)))).all()
            canon = min(members, key=lambda r: ((r.format or "").lower() not in LOSSLESS_FORMATS, r.id)).id
            s.execute(update(AudioFile).where(or_(AudioFile.id.in_(roots), AudioFile.duplicate_of.in_(roots)),
                                              AudioFile.id != canon).values(duplicate_of=canon))
            s.execute(update(AudioFile).where(AudioFile.id == canon).values(duplicate_of=None))
            return int(canon)

    def mark_failed(self, file_id: int, reason: str, extractor_version: str) -> None:
        with self.db.session() as s:
            row = s.get(AudioFile, file_id)
            if row is None:
                return
            row.status = "failed"
            row.error = reason[:2000]
            row.extractor_version = extractor_version
            row.attempts = (row.attempts or 0) + 1

    def failed_files(self) -> list[tuple[int, str, str]]:
        with self.db.session() as s:
            rows = s.execute(
                select(AudioFile.id, AudioFile.filename, AudioFile.error).where(AudioFile.status == "failed")
                .order_by(AudioFile.id)
            ).all()
            return [(r.id, r.filename, r.error or "") for r in rows]

    def vector_set(self, extractor_version: str, segments: bool = True) -> VectorSet:
        """Canonical vectors of searchable, non-duplicate files (and their segments)."""
        with self.db.session() as s:
            base = and_(
                searchable_clause(), AudioFile.status == "indexed", AudioFile.duplicate_of.is_(None),
                AudioFile.extractor_version == extractor_version,
            )
            rows = s.execute(
                select(FileFeatures.file_id, FileFeatures.vector, AudioFile.duration)
                .join(AudioFile, AudioFile.id == FileFeatures.file_id)
                .where(base, FileFeatures.extractor_version == extractor_version)
                .order_by(FileFeatures.file_id)
            ).all()
            fids = [r.file_id for r in rows]
            sids = [-1] * len(rows)
            starts = [0.0] * len(rows)
            ends = [float(r.duration or 0.0) for r in rows]
            vecs = [np.frombuffer(r.vector, dtype=np.float32) for r in rows]
            if segments:
                srows = s.execute(
                    select(Segment.id, Segment.file_id, Segment.start, Segment.end, Segment.vector)
                    .join(AudioFile, AudioFile.id == Segment.file_id)
                    .where(base, Segment.extractor_version == extractor_version)
                    .order_by(Segment.file_id, Segment.start)
                ).all()
                for r in srows:
                    fids.append(r.file_id)
                    sids.append(r.id)
                    starts.append(r.start)
                    ends.append(r.end)
                    vecs.append(np.frombuffer(r.vector, dtype=np.float32))
        dim = vecs[0].shape[0] if vecs else 0
        return VectorSet(
            file_ids=np.asarray(fids, dtype=np.int64), segment_ids=np.asarray(sids, dtype=np.int64),
            starts=np.asarray(starts, dtype=np.float64), ends=np.asarray(ends, dtype=np.float64),
            matrix=np.vstack(vecs).astype(np.float32) if vecs else np.zeros((0, dim), np.float32),
        )

    # -- reading items -------------------------------------------------------------------
    def _filter_clauses(self, flt: ItemFilter) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = [searchable_clause()]
        if flt.licence:
            clauses.append(AudioFile.licence_spdx == licences.normalise(flt.licence).spdx)
        if flt.licence_class == "open":
            clauses.append(and_(~AudioFile.licence_spdx.contains("-NC"), ~AudioFile.licence_spdx.contains("-ND")))
        elif flt.licence_class == "restricted":
            clauses.append(or_(AudioFile.licence_spdx.contains("-NC"), AudioFile.licence_spdx.contains("-ND")))
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
                select(AudioFile).where(AudioFile.id == file_id, searchable_clause())
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
                select(AudioFile).where(AudioFile.id.in_(list(file_ids)), searchable_clause())
                .options(selectinload(AudioFile.record))
            ).all()
            return {r.id: r for r in rows}

    def get_features(self, file_id: int) -> FileFeatures | None:
        with self.db.session() as s:
            return s.scalar(
                select(FileFeatures).where(FileFeatures.file_id == file_id)
                .order_by(FileFeatures.id.desc()).limit(1)
            )

    def get_segments(self, file_id: int) -> list[Segment]:
        with self.db.session() as s:
            return list(s.scalars(select(Segment).where(Segment.file_id == file_id).order_by(Segment.start)))

    def stats(self) -> dict[str, int]:
        with self.db.session() as s:
            out: dict[str, int] = {}
            for status, n in s.execute(select(AudioFile.status, func.count()).group_by(AudioFile.status)):
                out[status] = int(n)
            out["records"] = int(s.scalar(select(func.count(SourceRecord.id))) or 0)
            return out

    # -- consent -------------------------------------------------------------------------
    def _files_in_scope(self, s: Session, scope: str, target: str) -> list[int]:
        if scope == "file":
            q = select(AudioFile.id).where(AudioFile.id == int(target))
        elif scope == "record":
            q = select(AudioFile.id).where(AudioFile.record_id == int(target))
        elif scope == "creator":
            q = select(AudioFile.id).where(func.lower(AudioFile.creator) == target.strip().lower())
        else:
            raise InvalidInput(f"unknown consent scope {scope!r}; one of file, record, creator")
        return list(s.scalars(q))

    def withdraw(self, scope: str, target: str, actor: str | None, reason: str | None) -> list[int]:
        """Withdraw consent: hide at once, purge features and vectors, keep an audit entry."""
        with self.db.session() as s:
            ids = self._files_in_scope(s, scope, target)
            if not ids:
                raise NotFound(f"nothing to withdraw for {scope} {target!r}")
            s.execute(update(AudioFile).where(AudioFile.id.in_(ids)).values(
                consent_state="withdrawn", fingerprint=None, status="pending", extractor_version=None))
            s.execute(delete(FileFeatures).where(FileFeatures.file_id.in_(ids)))
            s.execute(delete(Segment).where(Segment.file_id.in_(ids)))
            s.add(ConsentEvent(scope=scope, target=str(target), action="withdraw", actor=actor, reason=reason,
                               file_ids=ids))
            return ids

    def set_consent_expiry(self, scope: str, target: str, expires_at: datetime | None,
                           actor: str | None, reason: str | None) -> list[int]:
        with self.db.session() as s:
            ids = self._files_in_scope(s, scope, target)
            if not ids:
                raise NotFound(f"nothing found for {scope} {target!r}")
            s.execute(update(AudioFile).where(AudioFile.id.in_(ids)).values(consent_expires_at=expires_at))
            s.add(ConsentEvent(scope=scope, target=str(target), action="grant", actor=actor, reason=reason,
                               expires_at=expires_at, file_ids=ids))
            return ids

    def expire_lapsed(self, at: datetime | None = None) -> list[int]:
        """Turn consents whose period ended into withdrawals (purging their features)."""
        at = at or now_utc()
        with self.db.session() as s:
            ids = list(s.scalars(select(AudioFile.id).where(
                AudioFile.consent_state == "active", AudioFile.consent_expires_at.is_not(None),
                AudioFile.consent_expires_at <= at)))
            if not ids:
                return []
            s.execute(update(AudioFile).where(AudioFile.id.in_(ids)).values(
                consent_state="withdrawn", fingerprint=None, status="pending", extractor_version=None))
            s.execute(delete(FileFeatures).where(FileFeatures.file_id.in_(ids)))
            s.execute(delete(Segment).where(Segment.file_id.in_(ids)))
            s.add(ConsentEvent(scope="file", target=",".join(map(str, ids)), action="expire",
                               actor="system", reason="consent period ended", file_ids=ids))
            return ids

    def cached_paths(self, file_ids: Sequence[int], cache_dir: str) -> dict[int, str]:
        """Paths of these files that are Tessera's own downloads (never a user's folder)."""
        root = cache_dir.rstrip("/") + "/"
        with self.db.session() as s:
            rows = s.execute(select(AudioFile.id, AudioFile.path).where(AudioFile.id.in_(list(file_ids)))).all()
            return {r.id: r.path for r in rows if r.path and r.path.startswith(root)}

    def forget_paths(self, file_ids: Sequence[int]) -> None:
        with self.db.session() as s:
            s.execute(update(AudioFile).where(AudioFile.id.in_(list(file_ids))).values(path=None))

    def consent_events(self) -> list[ConsentEvent]:
        with self.db.session() as s:
            return list(s.scalars(select(ConsentEvent).order_by(ConsentEvent.id)))

    # -- rejected records and crawl state ------------------------------------------------
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


    # -- crawlers ------------------------------------------------------------------------
    # Used by tessera/crawlers/harvest.py for incremental, idempotent harvesting.
    def find_record(self, kind: str, identifier: str) -> SourceRecord | None:
        with self.db.session() as s:
            return s.scalar(select(SourceRecord).where(
                SourceRecord.kind == kind, SourceRecord.identifier == identifier))

    def record_files_present(self, record_id: int) -> bool:
        """The record has files, all still searchable and with their cached copy on disk."""
        from pathlib import Path

        with self.db.session() as s:
            rows = s.execute(select(AudioFile.path, AudioFile.consent_state)
                             .where(AudioFile.record_id == record_id)).all()
        return bool(rows) and all(r.consent_state == "active" and r.path and Path(r.path).exists() for r in rows)

    def take_down_record_files(self, record_id: int, reason: str, keep_md5s: set[str] | None = None) -> int:
        """Take a record's searchable files out of search (licence no longer open, file gone at the source).

        Goes through ``withdraw`` so features are purged and a consent event (actor "crawler") is kept;
        files in ``keep_md5s`` stay. Returns how many files were taken down.
        """
        ids = self.active_file_ids(record_id, keep_md5s)
        for fid in ids:
            self.withdraw("file", str(fid), actor="crawler", reason=reason)
        return len(ids)

    def active_file_ids(self, record_id: int, keep_md5s: set[str] | None = None) -> list[int]:
        """A record's files still in search, but those in ``keep_md5s``."""
        with self.db.session() as s:
            q = select(AudioFile.id).where(AudioFile.record_id == record_id, AudioFile.consent_state == "active")
            if keep_md5s:
                q = q.where(AudioFile.md5.not_in(list(keep_md5s)))
            return list(s.scalars(q.order_by(AudioFile.id)))

    def blocked_files(self, record_id: int, reason_prefixes: tuple[str, ...]) -> list[tuple[str, str]]:
        """(md5, filename) of a record's withdrawn files that a re-crawl must not fetch again.

        Every withdrawn file but those the crawler alone withdrew for one of ``reason_prefixes`` (a
        licence that may become open again, see ``restore_withdrawn_files``).
        """
        with self.db.session() as s:
            rows = {int(r.id): (r.md5, r.filename) for r in s.execute(
                select(AudioFile.id, AudioFile.md5, AudioFile.filename).where(
                    AudioFile.record_id == record_id, AudioFile.consent_state == "withdrawn"))}
            if not rows:
                return []
            licence_only, blocked = self._withdrawal_kinds(s, set(rows), reason_prefixes)
        return [rows[i] for i in sorted(set(rows) - (licence_only - blocked))]

    @staticmethod
    def _withdrawal_kinds(s: Session, ids: set[int], reason_prefixes: tuple[str, ...]) -> tuple[set[int], set[int]]:
        """Of ``ids``: those a crawler withdrawal for ``reason_prefixes`` touched, and those any other did."""
        licence_only: set[int] = set()
        blocked: set[int] = set()
        for ev in s.scalars(select(ConsentEvent).where(ConsentEvent.action.not_in(["grant", "restore"]))):
            hit = ids.intersection(int(i) for i in ev.file_ids or [])
            if not hit:
                continue
            if ev.actor == "crawler" and ev.action == "withdraw" and (ev.reason or "").startswith(reason_prefixes):
                licence_only |= hit
            else:
                blocked |= hit
        return licence_only, blocked

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

    def restore_withdrawn_files(self, record_id: int, md5s: set[str], reason_prefixes: tuple[str, ...],
                                reason: str) -> list[int]:
        """Bring back a record's files that the crawler alone withdrew, for one of ``reason_prefixes``.

        For a licence that is open again. A file any other withdrawal ever touched (consent, expiry, a
        takedown, another crawler reason) stays withdrawn: only its owner can bring it back. Returns the ids.
        """
        with self.db.session() as s:
            ids = set(s.scalars(select(AudioFile.id).where(
                AudioFile.record_id == record_id, AudioFile.consent_state == "withdrawn",
                AudioFile.md5.in_(sorted(md5s)))))
            if not ids:
                return []
            licence_only, blocked = self._withdrawal_kinds(s, ids, reason_prefixes)
            back = sorted(licence_only - blocked)
            if back:
                s.execute(update(AudioFile).where(AudioFile.id.in_(back)).values(consent_state="active"))
                s.add(ConsentEvent(scope="file", target=",".join(map(str, back)), action="restore",
                                   actor="crawler", reason=reason, file_ids=back))
            return back
