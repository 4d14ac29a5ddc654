"""Filter queries for search and browse (the grammar: ``search/filters.py``): licence, source, creator, duration,
features, quality, text, cluster, label.

Feature filters read the ``file_features.features`` JSON (``json_extract`` on
SQLite, ``->>`` on PostgreSQL, both written by SQLAlchemy's JSON index
operators); quality flags are matched inside the ``quality.flags`` JSON array.
Text search uses the FTS5 table (SQLite) or the tsvector table (PostgreSQL)
that migration 0003 keeps up to date with triggers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, bindparam, func, literal_column, select, text
from sqlalchemy.orm import selectinload

from tessera.catalog.models import AudioFile, FileFeatures, Segment, SourceRecord
from tessera.catalog.store import licence_class_clause
from tessera.catalog.visibility import Viewer, visible_clause
from tessera.core import licences
from tessera.core.db import Database
from tessera.core.errors import InvalidInput, NotFound
from tessera.search.filters import Filters
from tessera.taxonomy.models import Cluster, ClusterMember, Label, Scheme
from tessera.taxonomy.store import surviving_identities

# The full-text index is the search stage's own, kept by triggers that migration 0003 creates in each
# database's dialect (an SQLite FTS5 virtual table and its shadow tables; a PostgreSQL tsvector table):
# SQLAlchemy has no type for either, so they are declared here by name rather than as models.
FULL_TEXT_TABLES = ("item_fts", "item_search")
_WORD = re.compile(r"\w+", re.UNICODE)


def text_terms(q: str) -> list[str]:
    """Words of a text query; everything else is dropped so users cannot inject query syntax."""
    return [w.lower() for w in _WORD.findall(q)][:16]


class SearchStore:
    def __init__(self, db: Database, viewer: Viewer) -> None:
        self.db = db
        self.viewer = viewer  # every read of items applies what this viewer may see

    @property
    def dialect(self) -> str:
        return self.db.engine.dialect.name

    # -- clauses -------------------------------------------------------------------------
    def clauses(self, flt: Filters) -> list[ColumnElement[bool]]:
        """Every clause of a filter; always includes the consent rule."""
        c: list[ColumnElement[bool]] = [visible_clause(self.viewer)]
        if flt.licence:
            c.append(AudioFile.licence_spdx == licences.normalise(flt.licence).spdx)
        if flt.licence_class:
            c.append(licence_class_clause(flt.licence_class))
        if flt.source:
            c.append(AudioFile.record_id.in_(select(SourceRecord.id).where(SourceRecord.kind == flt.source)))
        if flt.record_id is not None:
            c.append(AudioFile.record_id == flt.record_id)
        if flt.creator:
            c.append(func.lower(AudioFile.creator).contains(flt.creator.strip().lower(), autoescape=True))
        if flt.duration_min is not None:
            c.append(AudioFile.duration >= flt.duration_min)
        if flt.duration_max is not None:
            c.append(AudioFile.duration <= flt.duration_max)
        if flt.status:
            c.append(AudioFile.status == flt.status)
        feats = self._feature_clauses(flt)
        if feats:
            c.append(AudioFile.id.in_(select(FileFeatures.file_id).where(*feats)))
        if flt.exclude_flag:
            c.append(AudioFile.id.not_in(self._flagged(flt.exclude_flag)))
        if flt.q and flt.q.strip():
            c.append(self._text_clause(flt.q))
        if flt.cluster is not None:
            c.append(AudioFile.id.in_(select(ClusterMember.file_id).where(ClusterMember.cluster_id == flt.cluster)))
        if flt.label and flt.label.strip():
            c.append(self._label_clause(flt.label, flt.label_scheme))
        return c

    def _label_clause(self, label: str, scheme: str | None) -> ColumnElement[bool]:
        """Items carrying the label themselves, or members of a cluster whose identity carries it (any run),
        or of a cluster that absorbed such an identity by a merge."""
        cond = [func.lower(Label.text) == label.strip().lower(), Label.status != "removed"]
        if scheme:
            cond.append(Label.scheme_id.in_(select(Scheme.id).where(Scheme.slug == scheme)))
        with self.db.session() as s:
            named = [int(i) for i in s.scalars(select(Label.identity_id).where(*cond)) if i is not None]
            identities = sorted(surviving_identities(s, named))
        direct = select(Label.file_id).where(*cond, Label.file_id.is_not(None))
        via_cluster = (select(ClusterMember.file_id)
                       .join(Cluster, Cluster.id == ClusterMember.cluster_id)
                       .where(Cluster.identity_id.in_(identities)))
        return AudioFile.id.in_(direct.union(via_cluster))

    def _feature_clauses(self, flt: Filters) -> list[ColumnElement[bool]]:
        f = FileFeatures.features
        out: list[ColumnElement[bool]] = []
        if flt.bpm_min is not None:
            out.append(f["bpm"].as_float() >= flt.bpm_min)
        if flt.bpm_max is not None:
            out.append(f["bpm"].as_float() <= flt.bpm_max)
        if flt.bpm_confidence_min is not None:
            out.append(f["bpm_confidence"].as_float() >= flt.bpm_confidence_min)
        if flt.key:
            out.append(f["key"].as_string() == flt.key)
        if flt.scale:
            out.append(f["scale"].as_string() == flt.scale)
        if flt.tuning_min is not None:
            out.append(f["tuning_deviation_cents"].as_float() >= flt.tuning_min)
        if flt.tuning_max is not None:
            out.append(f["tuning_deviation_cents"].as_float() <= flt.tuning_max)
        return out

    def _flagged(self, flags: Sequence[str]) -> Any:
        names = sorted(set(flags))
        if self.dialect == "sqlite":
            cond = text("EXISTS (SELECT 1 FROM json_each(file_features.quality, '$.flags') AS j "
                        "WHERE j.value IN :flags)")
        else:
            cond = text("EXISTS (SELECT 1 FROM json_array_elements_text(file_features.quality -> 'flags') "
                        "AS j(value) WHERE j.value IN :flags)")
        cond = cond.bindparams(bindparam("flags", value=names, expanding=True))
        return select(FileFeatures.file_id).where(cond)

    def _text_clause(self, q: str) -> ColumnElement[bool]:
        terms = text_terms(q)
        sub: Any
        if not terms:
            raise InvalidInput("the text query has no words", filter="q")
        # every word must match, as a prefix (search-as-you-type), the same on both databases
        if self.dialect == "sqlite":
            match = " ".join(f'"{t}"*' for t in terms)
            sub = select(literal_column("rowid")).select_from(text("item_fts")).where(
                text("item_fts MATCH :fts").bindparams(fts=match))
        else:
            tsq = " & ".join(f"{t}:*" for t in terms)
            sub = select(literal_column("file_id")).select_from(text("item_search")).where(
                text("document @@ to_tsquery('simple', :tsq)").bindparams(tsq=tsq))
        return AudioFile.id.in_(sub)

    # -- queries -------------------------------------------------------------------------
    def browse(self, flt: Filters, limit: int, offset: int) -> tuple[list[AudioFile], int]:
        """Filtered items without a query example, in id order."""
        c = self.clauses(flt)
        with self.db.session() as s:
            total = int(s.scalar(select(func.count(AudioFile.id)).where(*c)) or 0)
            rows = s.scalars(select(AudioFile).where(*c).options(selectinload(AudioFile.record))
                             .order_by(AudioFile.id).limit(limit).offset(offset)).all()
            return list(rows), total

    def matching_ids(self, flt: Filters, among: Sequence[int] | None = None) -> set[int]:
        """Ids of visible items that pass the filter (optionally only among some candidates)."""
        c = self.clauses(flt)
        if among is not None:
            if not among:
                return set()
            c.append(AudioFile.id.in_(list(among)))
        with self.db.session() as s:
            return set(s.scalars(select(AudioFile.id).where(*c)))

    def count(self, flt: Filters) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.count(AudioFile.id)).where(*self.clauses(flt))) or 0)

    def item_vector(self, file_id: int) -> tuple[np.ndarray, int | None]:
        """Canonical vector of a visible, indexed item, and the file it duplicates (if any)."""
        with self.db.session() as s:
            row = s.execute(
                select(FileFeatures.vector, AudioFile.duplicate_of, AudioFile.status)
                .join(AudioFile, AudioFile.id == FileFeatures.file_id)
                .where(FileFeatures.file_id == file_id, visible_clause(self.viewer))
                .order_by(FileFeatures.id.desc()).limit(1)
            ).first()
            if row is None:
                exists = s.scalar(select(AudioFile.id).where(AudioFile.id == file_id, visible_clause(self.viewer)))
                if exists is None:
                    raise NotFound(f"item {file_id} not found", id=file_id)
                raise InvalidInput(f"item {file_id} has no features yet; it cannot be a query example", id=file_id)
            return np.frombuffer(row.vector, dtype=np.float32), row.duplicate_of

    def segment_vector(self, segment_id: int) -> tuple[np.ndarray, int, float, float]:
        """Canonical vector of a visible segment: (vector, file id, start, end)."""
        with self.db.session() as s:
            row = s.execute(
                select(Segment.vector, Segment.file_id, Segment.start, Segment.end)
                .join(AudioFile, AudioFile.id == Segment.file_id)
                .where(Segment.id == segment_id, visible_clause(self.viewer))
            ).first()
            if row is None:
                raise NotFound(f"segment {segment_id} not found", id=segment_id)
            return np.frombuffer(row.vector, dtype=np.float32), row.file_id, row.start, row.end

    def quality_of(self, file_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        if not file_ids:
            return {}
        with self.db.session() as s:
            rows = s.execute(select(FileFeatures.file_id, FileFeatures.quality)
                             .join(AudioFile, AudioFile.id == FileFeatures.file_id)
                             .where(FileFeatures.file_id.in_(list(file_ids)), visible_clause(self.viewer))).all()
            return {r.file_id: r.quality for r in rows}



