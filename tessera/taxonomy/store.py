"""The taxonomy stage's store: clustering runs, clusters, identities and lineage, plus community naming.

The taxonomy package hands it plain data (arrays, dicts, an identity plan) and gets typed records back
(``tessera.taxonomy.records``).
Reads apply the viewer's visibility, so a withdrawn item disappears from maps and exemplars at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import case, func, insert, select
from sqlalchemy.orm import Session

from tessera.catalog.models import AudioFile
from tessera.catalog.visibility import visible_clause
from tessera.core.errors import NotFound
from tessera.taxonomy import records
from tessera.taxonomy.models import (
    Cluster,
    ClusterIdentity,
    ClusteringRun,
    ClusterLineage,
    ClusterMember,
)
from tessera.taxonomy.naming import (
    LABEL_STATUSES,
    LINK_KINDS,
    NamingStore,
    absorbed_identities,
    normalise_rule,
    surviving_identities,
    valid_language_tag,
)
from tessera.taxonomy.points import MemberCache, RunMembers, VisiblePoints

__all__ = ["LABEL_STATUSES", "LINK_KINDS", "ClusterIn", "LineageIn", "TaxonomyStore", "absorbed_identities",
           "normalise_rule", "surviving_identities", "valid_language_tag"]


@dataclass
class ClusterIn:
    label: int
    size: int
    total_duration: float
    explanation: dict[str, Any]
    exemplars: list[int]


@dataclass
class LineageIn:
    kind: str
    from_identity: int | None
    to_label: int | None
    overlap: int


class TaxonomyStore(NamingStore):
    """Clustering runs and what they show; naming (schemes, labels) comes from ``NamingStore``."""

    # -- clustering runs -----------------------------------------------------------------
    def latest_run_id(self, space: str) -> int | None:
        with self.db.session() as s:
            return s.scalar(select(ClusteringRun.id).where(ClusteringRun.space == space)
                            .order_by(ClusteringRun.id.desc()).limit(1))

    def run_memberships(self, run_id: int) -> tuple[dict[int, set[int]], set[int]]:
        """(identity -> member file ids, every file of the run), for matching the next run against."""
        with self.db.session() as s:
            rows = s.execute(
                select(ClusterMember.file_id, Cluster.identity_id)
                .outerjoin(Cluster, Cluster.id == ClusterMember.cluster_id)
                .join(AudioFile, AudioFile.id == ClusterMember.file_id)
                .where(ClusterMember.run_id == run_id, visible_clause(self.viewer))
            ).all()
        by_identity: dict[int, set[int]] = {}
        for fid, ident in rows:
            if ident is not None:
                by_identity.setdefault(int(ident), set()).add(int(fid))
        return by_identity, {int(r[0]) for r in rows}

    def save_run(
        self,
        space: str,
        extractor_version: str,
        params: dict[str, Any],
        file_ids: Sequence[int],
        labels: np.ndarray,
        probabilities: np.ndarray,
        coords: np.ndarray,
        clusters: Sequence[ClusterIn],
        continues: dict[int, int],
        lineage: Sequence[LineageIn],
        previous_run_id: int | None,
        created_by: str | None = None,
    ) -> int:
        """Write a run in one transaction: clusters get a continued or fresh identity, then members, then lineage."""
        with self.db.session() as s:
            run = ClusteringRun(
                space=space, extractor_version=extractor_version, params=params, n_items=len(file_ids),
                n_clusters=len(clusters), n_noise=int(np.sum(np.asarray(labels) < 0)),
                previous_run_id=previous_run_id, created_by=created_by,
            )
            s.add(run)
            s.flush()
            cluster_ids: dict[int, int] = {}
            identity_of: dict[int, int] = {}
            for c in clusters:
                ident = continues.get(c.label)
                if ident is None:
                    row = ClusterIdentity(first_run_id=run.id)
                    s.add(row)
                    s.flush()
                    ident = row.id
                cl = Cluster(run_id=run.id, local_label=c.label, identity_id=ident, size=c.size,
                             total_duration=c.total_duration, explanation=c.explanation, exemplars=c.exemplars)
                s.add(cl)
                s.flush()
                cluster_ids[c.label] = cl.id
                identity_of[c.label] = ident
            prev_clusters: dict[int, int] = {}
            if previous_run_id is not None:
                prev_clusters = {int(i): int(c) for c, i in s.execute(
                    select(Cluster.id, Cluster.identity_id).where(Cluster.run_id == previous_run_id))}
            rows = [
                {"run_id": run.id, "file_id": int(f), "cluster_id": cluster_ids.get(int(lab)),
                 "x": float(xy[0]), "y": float(xy[1]), "probability": float(p)}
                for f, lab, p, xy in zip(file_ids, labels, probabilities, coords, strict=True)
            ]
            if rows:
                s.execute(insert(ClusterMember), rows)  # executemany: one round trip per batch, not per row
            for e in lineage:
                s.add(ClusterLineage(
                    run_id=run.id, kind=e.kind, from_identity_id=e.from_identity,
                    to_identity_id=identity_of.get(e.to_label) if e.to_label is not None else None,
                    from_cluster_id=prev_clusters.get(e.from_identity) if e.from_identity is not None else None,
                    to_cluster_id=cluster_ids.get(e.to_label) if e.to_label is not None else None,
                    overlap=e.overlap,
                ))
            return run.id

    def _hidden_members(self, s: Session, run_ids: Sequence[int]) -> dict[tuple[int, int | None], tuple[int, float]]:
        """(run, cluster or None) -> (members, seconds) this viewer may not see: counts and durations are
        shown net of them, so that an aggregate never reveals that hidden recordings exist."""
        if self.viewer.sees_all or not run_ids:
            return {}
        hidden = case((visible_clause(self.viewer), 0), else_=1) == 1  # NULL counts as not visible
        rows = s.execute(
            select(ClusterMember.run_id, ClusterMember.cluster_id, func.count(),
                   func.coalesce(func.sum(AudioFile.duration), 0.0))
            .join(AudioFile, AudioFile.id == ClusterMember.file_id)
            .where(ClusterMember.run_id.in_(list(run_ids)), hidden)
            .group_by(ClusterMember.run_id, ClusterMember.cluster_id)).all()
        return {(int(r[0]), None if r[1] is None else int(r[1])): (int(r[2]), float(r[3] or 0.0)) for r in rows}

    @staticmethod
    def _run_fields(r: ClusteringRun, hidden: dict[tuple[int, int | None], tuple[int, float]] | None = None
                    ) -> dict[str, Any]:
        gone = [n for (run, _), (n, _) in (hidden or {}).items() if run == r.id]
        noise_gone = (hidden or {}).get((r.id, None), (0, 0.0))[0]
        return {"id": r.id, "space": r.space, "extractor_version": r.extractor_version, "params": r.params or {},
                "items": r.n_items - sum(gone), "clusters": r.n_clusters, "unclustered": r.n_noise - noise_gone,
                "previous_run_id": r.previous_run_id, "created_by": r.created_by, "created_at": r.created_at}

    def list_runs(self, limit: int, offset: int) -> tuple[list[records.Run], int]:
        with self.db.session() as s:
            total = int(s.scalar(select(func.count(ClusteringRun.id))) or 0)
            rows = list(s.scalars(select(ClusteringRun).order_by(ClusteringRun.id.desc()).limit(limit).offset(offset)))
            hidden = self._hidden_members(s, [r.id for r in rows])
            return [records.Run(**self._run_fields(r, hidden)) for r in rows], total

    def _visible(self, s: Session, file_ids: Sequence[int]) -> set[int]:
        if not file_ids:
            return set()
        return set(s.scalars(select(AudioFile.id).where(AudioFile.id.in_(list(file_ids)), visible_clause(self.viewer))))

    @staticmethod
    def _cluster_fields(c: Cluster, labels: list[records.Label], visible: set[int],
                        hidden: dict[tuple[int, int | None], tuple[int, float]] | None = None) -> dict[str, Any]:
        n_gone, s_gone = (hidden or {}).get((c.run_id, c.id), (0, 0.0))
        return {"id": c.id, "run_id": c.run_id, "label": c.local_label, "identity_id": c.identity_id,
                "size": c.size - n_gone, "total_duration": max(0.0, c.total_duration - s_gone),
                "explanation": records.Explanation.model_validate(c.explanation),
                "exemplars": [f for f in c.exemplars if f in visible], "labels": labels}

    def _cluster_dict(self, c: Cluster, labels: list[records.Label], visible: set[int],
                      hidden: dict[tuple[int, int | None], tuple[int, float]] | None = None) -> records.Cluster:
        return records.Cluster(**self._cluster_fields(c, labels, visible, hidden))

    def get_run(self, run_id: int) -> records.RunDetail:
        with self.db.session() as s:
            run = s.get(ClusteringRun, run_id)
            if run is None:
                raise NotFound(f"clustering run {run_id} not found", id=run_id)
            clusters = s.scalars(select(Cluster).where(Cluster.run_id == run_id).order_by(Cluster.local_label)).all()
            labels = self._labels_by_identity(s, [c.identity_id for c in clusters], with_absorbed=True)
            ex = [f for c in clusters for f in c.exemplars]
            visible = self._visible(s, ex)
            points = s.execute(
                select(ClusterMember.file_id, ClusterMember.cluster_id, ClusterMember.x, ClusterMember.y,
                       ClusterMember.probability)
                .join(AudioFile, AudioFile.id == ClusterMember.file_id)
                .where(ClusterMember.run_id == run_id, visible_clause(self.viewer)).order_by(ClusterMember.file_id)
            ).all()
            lineage = s.scalars(select(ClusterLineage).where(ClusterLineage.run_id == run_id)
                                .order_by(ClusterLineage.id)).all()
            hidden = self._hidden_members(s, [run_id])
            return records.RunDetail(
                **self._run_fields(run, hidden),
                clusters_detail=[self._cluster_dict(c, labels.get(c.identity_id, []), visible, hidden)
                                 for c in clusters],
                points=[records.Point(item_id=p.file_id, cluster_id=p.cluster_id, x=round(p.x, 5), y=round(p.y, 5),
                                      probability=round(p.probability, 4)) for p in points],
                unclustered_items=[p.file_id for p in points if p.cluster_id is None],
                lineage=[self._lineage_dict(e) for e in lineage],
            )

    @staticmethod
    def _lineage_dict(e: ClusterLineage) -> records.Lineage:
        return records.Lineage(kind=e.kind, from_identity_id=e.from_identity_id, to_identity_id=e.to_identity_id,
                               from_cluster_id=e.from_cluster_id, to_cluster_id=e.to_cluster_id, overlap=e.overlap)

    def get_cluster(self, cluster_id: int) -> records.ClusterDetail:
        with self.db.session() as s:
            c = s.get(Cluster, cluster_id)
            if c is None:
                raise NotFound(f"cluster {cluster_id} not found", id=cluster_id)
            labels = self._labels_by_identity(s, [c.identity_id], with_absorbed=True).get(c.identity_id, [])
            members = s.execute(
                select(ClusterMember.file_id, ClusterMember.x, ClusterMember.y, ClusterMember.probability)
                .join(AudioFile, AudioFile.id == ClusterMember.file_id)
                .where(ClusterMember.cluster_id == cluster_id, visible_clause(self.viewer))
                .order_by(ClusterMember.file_id)
            ).all()
            lineage = s.scalars(select(ClusterLineage).where(
                (ClusterLineage.to_identity_id == c.identity_id) | (ClusterLineage.from_identity_id == c.identity_id)
            ).order_by(ClusterLineage.id)).all()
            # labels written on identities that merged or split into this one: shown, never lost
            related_ids = sorted({e.from_identity_id for e in lineage
                                  if e.to_identity_id == c.identity_id and e.from_identity_id is not None
                                  and e.from_identity_id != c.identity_id})
            inherited = self._labels_by_identity(s, related_ids)
            visible = {m.file_id for m in members}
            return records.ClusterDetail(
                **self._cluster_fields(c, labels, visible, self._hidden_members(s, [c.run_id])),
                members=[records.Member(item_id=m.file_id, x=round(m.x, 5), y=round(m.y, 5),
                                        probability=round(m.probability, 4)) for m in members],
                lineage=[self._lineage_dict(e) for e in lineage],
                related_labels=[lab for i in related_ids for lab in inherited.get(i, [])])

    def identity_of_cluster(self, cluster_id: int) -> int:
        with self.db.session() as s:
            ident = s.scalar(select(Cluster.identity_id).where(Cluster.id == cluster_id))
            if ident is None:
                raise NotFound(f"cluster {cluster_id} not found", id=cluster_id)
            return int(ident)

    def cluster_for_identity(self, run_id: int, identity_id: int) -> int | None:
        with self.db.session() as s:
            return s.scalar(select(Cluster.id).where(Cluster.run_id == run_id, Cluster.identity_id == identity_id))

    def licences_of(self, file_ids: Sequence[int]) -> dict[int, str]:
        wanted = {int(f) for f in file_ids}
        with self.db.session() as s:
            # one scan beats an IN list of 100k ids
            rows = s.execute(select(AudioFile.id, AudioFile.licence_spdx).where(visible_clause(self.viewer))).all()
        return {int(i): lic for i, lic in rows if int(i) in wanted}

    # -- the map ---------------------------------------------------------------------------
    def member_count(self, run_id: int) -> int:
        """How many members the run holds now (any viewer's): rows go only with their files."""
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(ClusterMember)
                                .where(ClusterMember.run_id == run_id)) or 0)

    def _members(self, run_id: int) -> RunMembers:
        with self.db.engine.connect() as conn:  # plain rows: a million ORM rows cost seconds
            rows = conn.execute(select(ClusterMember.file_id, ClusterMember.cluster_id, ClusterMember.x,
                                       ClusterMember.y).where(ClusterMember.run_id == run_id)
                                .order_by(ClusterMember.file_id)).all()
        a = np.array([(r[0], -1 if r[1] is None else r[1], r[2], r[3]) for r in rows],
                     dtype=np.float64).reshape(-1, 4)
        return RunMembers(len(rows), a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 2].copy(),
                          a[:, 3].copy())

    def _hidden_ids(self) -> np.ndarray:
        """Ids of the files this viewer may not see (few, where the visible are many)."""
        hidden = case((visible_clause(self.viewer), 0), else_=1) == 1  # NULL counts as not visible
        with self.db.engine.connect() as conn:
            return np.array(conn.execute(select(AudioFile.id).where(hidden)).scalars().all(), dtype=np.int64)

    def map_points(self, run_id: int, cache: MemberCache) -> VisiblePoints:
        """Every point of a run this viewer may see, as arrays (the members come from ``cache``)."""
        self._run_row(run_id)
        members = cache.get(run_id, self.member_count(run_id), lambda: self._members(run_id))
        hidden = members.ids[np.isin(members.ids, self._hidden_ids())]
        keep = ~np.isin(members.ids, hidden)
        with self.db.session() as s:
            cluster_ids = [int(c) for c in s.scalars(select(Cluster.id).where(Cluster.run_id == run_id)
                                                     .order_by(Cluster.local_label))]
        key = hashlib.blake2b(repr((run_id, members.count)).encode() + hidden.tobytes(), digest_size=16).digest()
        return VisiblePoints(cluster_ids, members.ids[keep], members.cids[keep], members.xs[keep],
                             members.ys[keep], key)

    def _run_row(self, run_id: int) -> ClusteringRun:
        with self.db.session() as s:
            run = s.get(ClusteringRun, run_id)
            if run is None:
                raise NotFound(f"clustering run {run_id} not found", id=run_id)
            return run

    def run_head(self, run_id: int, sample: int = 50) -> records.RunHead:
        """A run for the map: its clusters as ``get_run`` shows them, a few unclustered items, no points."""
        run = self._run_row(run_id)
        with self.db.session() as s:
            clusters = s.scalars(select(Cluster).where(Cluster.run_id == run_id).order_by(Cluster.local_label)).all()
            labels = self._labels_by_identity(s, [c.identity_id for c in clusters], with_absorbed=True)
            visible = self._visible(s, [f for c in clusters for f in c.exemplars])
            hidden = self._hidden_members(s, [run_id])
            detail = [self._cluster_dict(c, labels.get(c.identity_id, []), visible, hidden) for c in clusters]
            unclustered = s.scalars(
                select(ClusterMember.file_id).join(AudioFile, AudioFile.id == ClusterMember.file_id)
                .where(ClusterMember.run_id == run_id, ClusterMember.cluster_id.is_(None),
                       visible_clause(self.viewer))
                .order_by(ClusterMember.file_id).limit(sample)).all()
        return records.RunHead(**self._run_fields(run, hidden), clusters_detail=detail,
                               unclustered_sample=[int(f) for f in unclustered])
