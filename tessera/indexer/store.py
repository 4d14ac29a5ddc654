"""The indexer stage's store: what to index, features and segments, duplicates, and the vectors to serve.

The pipeline works on every consented item (cultural protocols are applied when results are read, so the
indexes hold restricted items and each read path filters them for its viewer).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import and_, delete, func, or_, select, update

from tessera.catalog.models import AudioFile, FileFeatures, Segment, SourceRecord
from tessera.catalog.visibility import consented_clause, now_utc
from tessera.core.db import Database
from tessera.core.vocab import LOSSLESS_FORMATS

ID_CHUNK = 5000  # ids per IN (...) list: SQLite's limit on bound parameters is 32,766


@dataclass
class IndexTask:
    file_id: int
    path: str
    md5: str
    size: int
    duration: float | None = None  # what the header claimed at registration (truncation, memory budget)
    # where the file lives at its source, its name in its record and the record's kind: what a Dask worker
    # on another machine may fetch instead of ``path`` (tessera.indexer.distributed)
    url: str | None = None
    filename: str = ""
    kind: str = ""


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
class VectorSet:
    """Vectors of searchable files (and their segments) for one extractor version."""

    file_ids: np.ndarray  # int64, one per row
    segment_ids: np.ndarray  # int64, -1 for a file-level row
    starts: np.ndarray
    ends: np.ndarray
    matrix: np.ndarray  # float32 (n, d)


class IndexStore:
    def __init__(self, db: Database) -> None:
        self.db = db

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
                select(AudioFile.id, AudioFile.path, AudioFile.md5, AudioFile.size, AudioFile.duration,
                       AudioFile.url, AudioFile.filename, SourceRecord.kind)
                .join(SourceRecord, SourceRecord.id == AudioFile.record_id)
                .where(cond, consented_clause(), AudioFile.path.is_not(None))
                .order_by(AudioFile.id)
            ).all()
            return [IndexTask(r.id, r.path or "", r.md5, r.size, r.duration, r.url, r.filename, r.kind)
                    for r in rows]

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

    def fingerprint_candidates(self, file_id: int, duration: float, window: float) -> list[tuple[int, str]]:
        """(id, fingerprint) of other searchable indexed files whose duration is within ``window`` s.

        Any order of arrival works: the lookup covers every id, older or newer, linked or not.
        """
        with self.db.session() as s:
            rows = s.execute(
                select(AudioFile.id, AudioFile.fingerprint).where(
                    AudioFile.id != file_id, AudioFile.status == "indexed", AudioFile.fingerprint.is_not(None),
                    AudioFile.duration.between(duration - window, duration + window), consented_clause(),
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

    @staticmethod
    def _searchable(extractor_version: str) -> Any:
        return and_(consented_clause(), AudioFile.status == "indexed", AudioFile.duplicate_of.is_(None),
                    AudioFile.extractor_version == extractor_version)

    def searchable_ids(self, extractor_version: str) -> np.ndarray:
        """Ids of every file ``vector_set`` would hold (ids only, not vectors): what an index increment
        compares its rows against."""
        with self.db.session() as s:
            ids = s.scalars(select(AudioFile.id).where(self._searchable(extractor_version))).all()
            return np.asarray(ids, dtype=np.int64)

    def indexed_since(self, extractor_version: str, since: datetime | None) -> dict[int, datetime]:
        """Searchable files whose features were saved after ``since`` (all of them when None)."""
        with self.db.session() as s:
            cond = self._searchable(extractor_version)
            if since is not None:
                cond = and_(cond, AudioFile.indexed_at > since)
            rows = s.execute(select(AudioFile.id, AudioFile.indexed_at).where(cond, AudioFile.indexed_at.is_not(None)))
            return {int(r.id): r.indexed_at for r in rows}

    def last_indexed(self, extractor_version: str) -> datetime | None:
        with self.db.session() as s:
            return s.scalar(select(func.max(AudioFile.indexed_at)).where(self._searchable(extractor_version)))

    def vector_set(self, extractor_version: str, segments: bool = True,
                   file_ids: Collection[int] | None = None) -> VectorSet:
        """Canonical vectors of searchable, non-duplicate files (and their segments); only of ``file_ids``
        when given (an increment reads the new files' vectors, not the catalogue's)."""
        if file_ids is not None and len(file_ids) > ID_CHUNK:
            ids = sorted(file_ids)
            parts = [self.vector_set(extractor_version, segments, ids[i:i + ID_CHUNK])
                     for i in range(0, len(ids), ID_CHUNK)]
            parts = [p for p in parts if len(p.file_ids)] or parts[:1]  # an empty part has no dimension
            return VectorSet(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                               ("file_ids", "segment_ids", "starts", "ends", "matrix")))
        with self.db.session() as s:
            base = self._searchable(extractor_version)
            if file_ids is not None:
                base = and_(base, AudioFile.id.in_(sorted(file_ids)))
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
