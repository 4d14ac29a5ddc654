"""Datasets: create, change members (each change is a new immutable version), read, and gather export data."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from tessera.catalog.models import AudioFile, FileFeatures, Segment
from tessera.catalog.protocols import ProtocolStore
from tessera.catalog.visibility import (
    PUBLIC,
    Viewer,
    consented_clause,
    dataset_visible_clause,
    now_utc,
    visible_clause,
)
from tessera.core.db import Database
from tessera.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from tessera.datasets.models import Dataset, DatasetMember, DatasetVersion
from tessera.taxonomy.models import Cluster, ClusteringRun, ClusterMember, Label, Scheme
from tessera.taxonomy.store import absorbed_identities

MAX_MEMBERS = 100_000


@dataclass(frozen=True)
class MemberIn:
    file_id: int
    segment_id: int | None = None


@dataclass
class ExportMember:
    """Everything an export needs about one member, as plain data."""

    file_id: int
    # active | withdrawn | lapsed (consent period ended) | restricted (a cultural protocol hides it from this exporter)
    status: str
    segment_id: int | None = None
    start: float | None = None
    end: float | None = None
    md5: str = ""
    title: str = ""
    creator: str | None = None
    filename: str = ""
    size: int | None = None
    duration: float | None = None
    format: str | None = None
    sample_rate: int | None = None
    url: str | None = None
    path: str | None = None
    licence_spdx: str = ""
    licence_url: str = ""
    attribution: str = ""
    source_kind: str = ""
    source_identifier: str = ""
    source_title: str = ""
    doi: str | None = None
    page_url: str | None = None
    quality_flags: list[str] = field(default_factory=list)
    cluster: str | None = None  # stable cluster identity in the bundle's clustering run ("cluster-<identity>")
    labels: list[str] = field(default_factory=list)
    protocol_labels: list[str] = field(default_factory=list)  # "TK Seasonal (community): text"


@dataclass
class ExportBundle:
    dataset_id: int
    name: str
    slug: str
    description: str | None
    notes: str | None
    created_by: str | None
    version: int
    version_notes: str | None
    version_created_at: datetime
    origin: dict[str, Any]
    extractor_version: str | None
    members: list[ExportMember]
    protocol_labels: list[str] = field(default_factory=list)  # on the dataset itself
    # the run the cluster column comes from: id, space, params, extractor version, created_at, why chosen
    clustering: dict[str, Any] | None = None


def slugify(name: str) -> str:
    s = re.sub(r"[^\w]+", "-", name.strip().lower(), flags=re.UNICODE).strip("-")
    return s[:100] or "dataset"


class DatasetStore:
    def __init__(self, db: Database, viewer: Viewer) -> None:
        self.db = db
        self.viewer = viewer  # every read of items applies what this viewer may see

    # -- reading --------------------------------------------------------------------------
    def get(self, ref: int | str) -> Dataset:
        """A dataset by id or slug."""
        with self.db.session() as s:
            q = select(Dataset).options(selectinload(Dataset.versions)).where(
                dataset_visible_clause(self.viewer, Dataset.id))
            row = s.scalar(q.where(Dataset.id == ref) if isinstance(ref, int) else q.where(Dataset.slug == ref))
            if row is None:
                raise NotFound(f"dataset {ref} not found", id=ref)
            return row

    def list_datasets(self, limit: int, offset: int) -> tuple[list[Dataset], int]:
        with self.db.session() as s:
            visible = dataset_visible_clause(self.viewer, Dataset.id)
            total = int(s.scalar(select(func.count(Dataset.id)).where(visible)) or 0)
            rows = s.scalars(select(Dataset).options(selectinload(Dataset.versions)).where(visible)
                             .order_by(Dataset.id)
                             .limit(limit).offset(offset)).all()
            return list(rows), total

    def version(self, dataset_id: int, version: int | None = None) -> DatasetVersion:
        """One version with the members this viewer may see (the newest version when ``version`` is None)."""
        v = self._version(dataset_id, version)
        self._hide_members([v])
        return v

    def _hide_members(self, versions: Sequence[DatasetVersion]) -> None:
        """Drop members the viewer may not see (withdrawn, lapsed, restricted) from loaded, detached versions."""
        if self.viewer.sees_all:
            return
        fids = sorted({m.file_id for v in versions for m in v.members})
        with self.db.session() as s:
            seen = set(s.scalars(select(AudioFile.id).where(AudioFile.id.in_(fids), visible_clause(self.viewer)))) \
                if fids else set()
        for v in versions:
            set_committed_value(v, "members", [m for m in v.members if m.file_id in seen])

    def _version(self, dataset_id: int, version: int | None = None) -> DatasetVersion:
        with self.db.session() as s:
            q = select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id,
                                             dataset_visible_clause(self.viewer, DatasetVersion.dataset_id)).options(
                selectinload(DatasetVersion.members))
            q = q.where(DatasetVersion.version == version) if version is not None else q.order_by(
                DatasetVersion.version.desc()).limit(1)
            row = s.scalar(q)
            if row is None:
                if s.scalar(select(Dataset.id).where(Dataset.id == dataset_id,
                                                     dataset_visible_clause(self.viewer, Dataset.id))) is None:
                    raise NotFound(f"dataset {dataset_id} not found", id=dataset_id)
                raise NotFound(f"dataset {dataset_id} has no version {version}", id=dataset_id, version=version)
            return row

    def versions(self, dataset_id: int) -> list[DatasetVersion]:
        self.get(dataset_id)
        with self.db.session() as s:
            rows = list(s.scalars(select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id)
                                  .options(selectinload(DatasetVersion.members)).order_by(DatasetVersion.version)))
        self._hide_members(rows)
        return rows

    # -- writing --------------------------------------------------------------------------
    def _guard_protocols(self, s: Any, dataset_id: int | None, fids: set[int]) -> None:
        """Material a cultural protocol keeps from the public goes only into a dataset kept from the public.

        A community member sees her community's restricted items and could otherwise carry them into a
        public dataset (its export, its card); label the dataset for the community first.
        """
        at = now_utc()
        public = set(s.scalars(select(AudioFile.id).where(AudioFile.id.in_(sorted(fids)), visible_clause(PUBLIC, at))))
        restricted = sorted(fids - public)
        if not restricted:
            return
        if dataset_id is not None and s.scalar(select(Dataset.id).where(
                Dataset.id == dataset_id, ~dataset_visible_clause(PUBLIC, Dataset.id, at))) is not None:
            return
        raise Forbidden(
            f"item(s) {', '.join(map(str, restricted[:20]))} are restricted by a community's cultural protocol; "
            "a dataset may hold them only once it carries a restricting protocol label itself "
            "(POST /api/protocol-labels with target_kind=dataset)", ids=restricted[:100])

    def _resolve(self, s: Any, members: Sequence[MemberIn], dataset_id: int | None = None) -> list[DatasetMember]:
        """Check that new members are visible (consent active, protocols) and take their md5 and segment times."""
        fids = {m.file_id for m in members}
        files = dict(s.execute(select(AudioFile.id, AudioFile.md5).where(
            AudioFile.id.in_(list(fids)), visible_clause(self.viewer))).all()) if fids else {}
        missing = sorted(fids - set(files))
        if missing:
            raise NotFound(f"item(s) not found: {', '.join(map(str, missing[:20]))}", ids=missing[:100])
        if fids:
            self._guard_protocols(s, dataset_id, fids)
        sids = {m.segment_id for m in members if m.segment_id is not None}
        segs = {r.id: r for r in s.execute(select(Segment.id, Segment.file_id, Segment.start, Segment.end)
                                            .where(Segment.id.in_(list(sids)))).all()} if sids else {}
        out = []
        for m in members:
            seg = segs.get(m.segment_id) if m.segment_id is not None else None
            if m.segment_id is not None and (seg is None or seg.file_id != m.file_id):
                raise NotFound(f"segment {m.segment_id} of item {m.file_id} not found", segment_id=m.segment_id)
            out.append(DatasetMember(file_id=m.file_id, segment_id=m.segment_id,
                                     start=seg.start if seg else None, end=seg.end if seg else None,
                                     md5=files[m.file_id], position=0))
        return out

    def create(self, name: str, members: Sequence[MemberIn] = (), description: str | None = None,
               notes: str | None = None, created_by: str | None = None, origin: dict[str, Any] | None = None,
               slug: str | None = None) -> Dataset:
        if not name.strip():
            raise InvalidInput("a dataset needs a name")
        if len(members) > MAX_MEMBERS:
            raise InvalidInput(f"at most {MAX_MEMBERS} members")
        slug = slugify(slug or name)
        try:
            with self.db.session() as s:
                if s.scalar(select(Dataset.id).where(Dataset.slug == slug)) is not None:
                    raise Conflict(f"a dataset called {slug!r} already exists", slug=slug)
                ds = Dataset(name=name.strip(), slug=slug, description=description, notes=notes,
                             created_by=created_by)
                s.add(ds)
                s.flush()
                self._add_version(s, ds.id, 1, _dedupe(self._resolve(s, members)), "created", created_by,
                                  origin or {"kind": "manual"})
                ds_id = ds.id
        except IntegrityError as exc:  # two creators raced for the same slug
            raise Conflict(f"a dataset called {slug!r} already exists", slug=slug) from exc
        return self.get(ds_id)

    def change(self, dataset_id: int, add: Sequence[MemberIn] = (), remove: Sequence[MemberIn] = (),
               notes: str | None = None, created_by: str | None = None,
               origin: dict[str, Any] | None = None) -> DatasetVersion:
        """A new version: the previous members, minus ``remove``, plus ``add``.

        Removing ``MemberIn(file_id)`` removes every member of that file; with a segment id, only that one.
        """
        if not add and not remove:
            raise InvalidInput("nothing to change: give members to add or remove")
        prev = self._version(dataset_id)
        drop_files = {m.file_id for m in remove if m.segment_id is None}
        drop_segs = {(m.file_id, m.segment_id) for m in remove if m.segment_id is not None}
        try:
            with self.db.session() as s:
                kept = [DatasetMember(file_id=m.file_id, segment_id=m.segment_id, start=m.start, end=m.end,
                                      md5=m.md5, position=0)
                        for m in prev.members
                        if m.file_id not in drop_files and (m.file_id, m.segment_id) not in drop_segs]
                members = _dedupe(kept + self._resolve(s, add, dataset_id))
                if len(members) > MAX_MEMBERS:
                    raise InvalidInput(f"at most {MAX_MEMBERS} members")
                v = self._add_version(s, dataset_id, prev.version + 1, members, notes, created_by,
                                      origin or {"kind": "manual"})
                ds = s.get(Dataset, dataset_id)
                if ds is not None:
                    ds.updated_at = v.created_at
                vid = v.id
        except IntegrityError as exc:  # another editor made the same version number first
            raise Conflict("the dataset changed meanwhile; try again") from exc
        return self._load_version(vid)

    def _load_version(self, version_id: int) -> DatasetVersion:
        with self.db.session() as s:
            out = s.scalar(select(DatasetVersion).where(DatasetVersion.id == version_id)
                           .options(selectinload(DatasetVersion.members)))
            assert out is not None
            return out

    def edit(self, dataset_id: int, changes: Mapping[str, str | None], created_by: str | None = None,
             version_notes: str | None = None) -> DatasetVersion:
        """Change the purpose (``description``) and/or curation ``notes``: a new version, same members.

        The version's origin keeps the old and new texts, so every older version's export still
        states the purpose and notes it had (see ``texts_at``).
        """
        bad = set(changes) - {"description", "notes"}
        if bad or not changes:
            raise InvalidInput("give a new description (purpose) and/or notes", fields=sorted(bad))
        prev = self._version(dataset_id)
        try:
            with self.db.session() as s:
                ds = s.get(Dataset, dataset_id)
                if ds is None:
                    raise NotFound(f"dataset {dataset_id} not found", id=dataset_id)
                before = {k: getattr(ds, k) for k in changes}
                if before == dict(changes):
                    raise InvalidInput("nothing to change: the texts are the same")
                members = [DatasetMember(file_id=m.file_id, segment_id=m.segment_id, start=m.start, end=m.end,
                                         md5=m.md5, position=0) for m in prev.members]
                v = self._add_version(s, dataset_id, prev.version + 1, members,
                                      version_notes or f"{' and '.join(sorted(changes))} edited", created_by,
                                      {"kind": "edit", "changed": dict(changes), "previous": before})
                for k, val in changes.items():
                    setattr(ds, k, val)
                ds.updated_at = v.created_at
                vid = v.id
        except IntegrityError as exc:
            raise Conflict("the dataset changed meanwhile; try again") from exc
        return self._load_version(vid)

    def texts_at(self, ds: Dataset, version: int) -> dict[str, str | None]:
        """Purpose and notes as they were at ``version``: the first later edit remembers the old text."""
        texts: dict[str, str | None] = {"description": ds.description, "notes": ds.notes}
        found: set[str] = set()
        for v in self.versions(ds.id):
            if v.version <= version or (v.origin or {}).get("kind") != "edit":
                continue
            for k, old in ((v.origin or {}).get("previous") or {}).items():
                if k in texts and k not in found:
                    texts[k] = old
                    found.add(k)
        return texts

    @staticmethod
    def _add_version(s: Any, dataset_id: int, number: int, members: list[DatasetMember], notes: str | None,
                     created_by: str | None, origin: dict[str, Any]) -> DatasetVersion:
        v = DatasetVersion(dataset_id=dataset_id, version=number, notes=notes, created_by=created_by,
                           origin=origin, member_count=len(members))
        for i, m in enumerate(members):
            m.position = i
        v.members = members
        s.add(v)
        s.flush()
        return v

    def drop_withdrawn(self, file_ids: Sequence[int], reason: str) -> list[tuple[int, int]]:
        """Give every dataset whose newest version holds a withdrawn file a new version without it.

        Old versions keep the member (their exports list it as withdrawn); the new version's origin
        and notes say why it was made. Returns (dataset id, new version number) pairs.
        """
        ids = sorted({int(f) for f in file_ids})
        if not ids:
            return []
        with self.db.session() as s:
            newest = (select(DatasetVersion.dataset_id, func.max(DatasetVersion.version).label("v"))
                      .group_by(DatasetVersion.dataset_id).subquery())
            rows = s.execute(
                select(DatasetVersion.dataset_id, DatasetMember.file_id)
                .join(newest, (newest.c.dataset_id == DatasetVersion.dataset_id)
                      & (newest.c.v == DatasetVersion.version))
                .join(DatasetMember, DatasetMember.version_id == DatasetVersion.id)
                .where(DatasetMember.file_id.in_(ids))
            ).all()
        hit: dict[int, set[int]] = {}
        for ds_id, fid in rows:
            hit.setdefault(int(ds_id), set()).add(int(fid))
        out = []
        for ds_id, fids in sorted(hit.items()):
            v = self.change(ds_id, remove=[MemberIn(f) for f in sorted(fids)],
                            notes=f"{len(fids)} item(s) removed: {reason}", created_by="tessera-consent",
                            origin={"kind": "withdrawal", "file_ids": sorted(fids), "reason": reason})
            out.append((ds_id, v.version))
        return out

    # -- export ---------------------------------------------------------------------------
    @staticmethod
    def _clustering_run(s: Any, origin: dict[str, Any], run_id: int | None) -> dict[str, Any] | None:
        """The run an export states: the one asked for, else the run of the cluster the version was
        made from, else the newest run (the "all" space preferred)."""
        why = "asked for by the exporter"
        if run_id is None:
            # filters are recorded by their public name (``cluster``); versions made before it say ``cluster_id``
            filters = origin.get("filters") or {}
            cid = origin.get("cluster_id") or filters.get("cluster") or filters.get("cluster_id")
            if cid is not None:
                run_id = s.scalar(select(Cluster.run_id).where(Cluster.id == int(cid)))
                why = f"the run of cluster {cid}, which this version was made from"
        if run_id is None:
            run_id = s.scalar(select(ClusteringRun.id).order_by((ClusteringRun.space == "all").desc(),
                                                                ClusteringRun.id.desc()).limit(1))
            why = "the newest clustering run at export time"
        if run_id is None:
            return None
        run = s.get(ClusteringRun, run_id)
        if run is None:
            raise NotFound(f"clustering run {run_id} not found", id=run_id)
        return {"run_id": run.id, "space": run.space, "params": dict(run.params or {}),
                "extractor_version": run.extractor_version, "items": run.n_items, "clusters": run.n_clusters,
                "created_at": run.created_at.isoformat() if run.created_at else None, "chosen": why}

    @staticmethod
    def _taxonomy_of(s: Any, fids: Sequence[int], run_id: int | None) -> dict[int, tuple[str | None, list[str]]]:
        """Cluster identity in the given run and accepted labels of each file.

        Labels come from the file itself, from its cluster and from clusters merged into it, written
        "text@lang (scheme)".
        """
        if not fids:
            return {}
        ident: dict[int, int] = {}
        if run_id is not None:
            ident = {int(f): int(i) for f, i in s.execute(
                select(ClusterMember.file_id, Cluster.identity_id).join(Cluster, Cluster.id == ClusterMember.cluster_id)
                .where(ClusterMember.run_id == run_id, ClusterMember.file_id.in_(list(fids))))}
        absorbed = absorbed_identities(s, sorted(set(ident.values())))
        every = set(ident.values()) | {j for js in absorbed.values() for j in js}
        rows = s.execute(
            select(Label.file_id, Label.identity_id, Label.text, Label.lang, Scheme.slug)
            .join(Scheme, Scheme.id == Label.scheme_id)
            .where(Label.status == "accepted",
                   Label.file_id.in_(list(fids)) | Label.identity_id.in_(sorted(every)))
            .order_by(Label.id)).all()
        by_file: dict[int, list[str]] = {}
        by_identity: dict[int, list[str]] = {}
        for fid, iid, txt, lang, slug in rows:
            tag = f"{txt}@{lang} ({slug})"
            if fid is not None:
                by_file.setdefault(int(fid), []).append(tag)
            if iid is not None:
                by_identity.setdefault(int(iid), []).append(tag)
        out: dict[int, tuple[str | None, list[str]]] = {}
        for f in fids:
            i = ident.get(int(f))
            labs = list(by_file.get(int(f), []))
            if i is not None:
                for j in [i, *absorbed.get(i, [])]:
                    labs += [t for t in by_identity.get(j, []) if t not in labs]
            out[int(f)] = (f"cluster-{i}" if i is not None else None, labs)
        return out

    def export_bundle(self, dataset_id: int, version: int | None = None, run_id: int | None = None) -> ExportBundle:
        """The members of a version with what the catalogue knows now; withdrawn ones are marked, not described.

        ``run_id`` chooses the clustering run of the cluster column (see ``_clustering_run``)."""
        ds = self.get(dataset_id)
        v = self._version(dataset_id, version)  # hidden members are listed below as such, without content
        fids = sorted({m.file_id for m in v.members})
        with self.db.session() as s:
            rows = {f.id: f for f in s.scalars(select(AudioFile).where(AudioFile.id.in_(fids),
                                                                       visible_clause(self.viewer))
                                                .options(selectinload(AudioFile.record)))} if fids else {}
            quality: dict[int, Any] = dict(s.execute(select(FileFeatures.file_id, FileFeatures.quality)
                                     .where(FileFeatures.file_id.in_(fids))).all()) if fids else {}
            clustering = self._clustering_run(s, dict(v.origin or {}), run_id)
            taxonomy = self._taxonomy_of(s, list(rows), clustering["run_id"] if clustering else None)
            hidden = [f for f in fids if f not in rows]
            # consent in force but not visible: a protocol label of a community hides it from this exporter
            restricted = set(s.scalars(select(AudioFile.id).where(AudioFile.id.in_(hidden), consented_clause())))
            # consent period ended, swept or not yet (then its state still says "active"): lapsed
            lapsed = set(s.scalars(select(AudioFile.id).where(
                AudioFile.id.in_(hidden), AudioFile.consent_expires_at.is_not(None),
                AudioFile.consent_expires_at <= now_utc())))
            protocol = ProtocolStore(self.db, self.viewer).protocol_labels_for_items(list(rows))
            ext = s.scalar(select(AudioFile.extractor_version).where(AudioFile.id.in_(fids),
                                                                     AudioFile.extractor_version.is_not(None))
                           .limit(1)) if fids else None
        out = []
        for m in v.members:
            f = rows.get(m.file_id)
            if f is None or f.md5 != m.md5:
                # consent withdrawn or lapsed (or the file replaced), or restricted: listed by id only, never
                # shipped, nothing else said of it
                status = ("restricted" if m.file_id in restricted else "lapsed" if m.file_id in lapsed
                          else "withdrawn") if f is None else "withdrawn"
                out.append(ExportMember(file_id=m.file_id, status=status, segment_id=m.segment_id))
                continue
            r = f.record
            out.append(ExportMember(
                file_id=f.id, status="active", segment_id=m.segment_id, start=m.start, end=m.end, md5=f.md5,
                title=f.title, creator=f.creator, filename=f.filename, size=f.size, duration=f.duration,
                format=f.format, sample_rate=f.sample_rate, url=f.url, path=f.path, licence_spdx=f.licence_spdx,
                licence_url=f.licence_url, attribution=f.attribution, source_kind=r.kind,
                source_identifier=r.identifier, source_title=r.title, doi=r.doi, page_url=r.page_url,
                quality_flags=list((quality.get(f.id) or {}).get("flags", [])),
                cluster=taxonomy.get(f.id, (None, []))[0], labels=taxonomy.get(f.id, (None, []))[1],
                protocol_labels=[p.brief() for p in protocol.get(f.id, [])],
            ))
        texts = self.texts_at(ds, v.version)
        return ExportBundle(
            dataset_id=ds.id, name=ds.name, slug=ds.slug, description=texts["description"], notes=texts["notes"],
            created_by=ds.created_by, version=v.version, version_notes=v.notes, version_created_at=v.created_at,
            origin=dict(v.origin or {}), extractor_version=ext, members=out,
            protocol_labels=[p.brief() for p in
                             ProtocolStore(self.db, self.viewer).protocol_labels("dataset", ds.id)[0]],
            clustering=clustering,
        )


def _dedupe(members: list[DatasetMember]) -> list[DatasetMember]:
    seen: set[tuple[int, int | None]] = set()
    out = []
    for m in members:
        key = (m.file_id, m.segment_id)
        if key not in seen:
            seen.add(key)
            out.append(m)
    return out
