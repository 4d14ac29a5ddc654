"""Datasets: create (by hand or from a search), change members (new version each time), export, licences."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from tessera.api.auth import current
from tessera.api.deps import (
    DatasetsDep,
    IndexesDep,
    Paged,
    SearchStoreDep,
    get_protocols,
    get_settings,
    page,
    require_editor,
)
from tessera.api.errors import problems
from tessera.api.schemas import ID_MAX, DbId, PageOf
from tessera.api.schemas.datasets import DatasetOut, LicenceSummaryOut, MemberOut, VersionOut
from tessera.core.errors import Forbidden, Unauthorized
from tessera.datasets.export import export
from tessera.datasets.export_links import Links
from tessera.datasets.licence_summary import summarise
from tessera.datasets.models import Dataset, DatasetVersion
from tessera.datasets.store import MemberIn
from tessera.indexer.similarity import IndexSet
from tessera.search.filters import JsonFilters
from tessera.search.query import build_query, search
from tessera.search.store import SearchStore

router = APIRouter(prefix="/api", tags=["datasets"])

DatasetId = Annotated[int, PathParam(ge=1, le=ID_MAX)]


class MemberRef(BaseModel):
    item_id: DbId
    segment_id: DbId | None = None


class FromQuery(BaseModel):
    """Take the top ``limit`` answers of a search as members."""

    model_config = ConfigDict(extra="forbid")

    items: list[DbId] = Field(default_factory=list, max_length=20)
    segments: list[DbId] = Field(default_factory=list, max_length=20)
    not_items: list[DbId] = Field(default_factory=list, max_length=20)
    space: str = "all"
    filters: JsonFilters = Field(default_factory=JsonFilters, description="the filter grammar of GET /api/search")
    limit: int = Field(default=50, ge=1, le=1000)


class DatasetCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    slug: str | None = Field(default=None, max_length=100)
    description: str | None = Field(default=None, max_length=20000, description="purpose")
    notes: str | None = Field(default=None, max_length=20000, description="curation notes")
    members: list[MemberRef] = Field(default_factory=list, max_length=10000)
    from_query: FromQuery | None = None


class MembersChange(BaseModel):
    add: list[MemberRef] = Field(default_factory=list, max_length=10000)
    remove: list[MemberRef] = Field(default_factory=list, max_length=10000)
    notes: str | None = Field(default=None, max_length=20000)


class DatasetEdit(BaseModel):
    """Only the fields given change; ``null`` clears a text."""

    description: str | None = Field(default=None, max_length=20000, description="purpose")
    notes: str | None = Field(default=None, max_length=20000, description="curation notes")
    version_notes: str | None = Field(default=None, max_length=20000, description="why it changed")


def version_out(v: DatasetVersion, with_members: bool) -> VersionOut:
    return VersionOut(
        version=v.version, notes=v.notes, origin=v.origin or {}, created_by=v.created_by, created_at=v.created_at,
        member_count=v.member_count,
        members=[MemberOut(item_id=m.file_id, segment_id=m.segment_id, start=m.start, end=m.end, md5=m.md5)
                 for m in v.members] if with_members else None)


def dataset_out(d: Dataset, latest: DatasetVersion | None = None) -> DatasetOut:
    return DatasetOut(id=d.id, name=d.name, slug=d.slug, description=d.description, notes=d.notes,
                      created_by=d.created_by, created_at=d.created_at,
                      latest_version=d.versions[-1].version if d.versions else None,
                      latest=version_out(latest, True) if latest else None)


def _members(refs: list[MemberRef]) -> list[MemberIn]:
    return [MemberIn(r.item_id, r.segment_id) for r in refs]


def _from_query(fq: FromQuery, store: SearchStore, indexes: IndexSet) -> tuple[list[MemberIn], dict[str, Any]]:
    q = build_query(store, fq.items, fq.segments, fq.not_items)
    res = search(store, indexes.space(fq.space) if q.positives else None, q, fq.filters, fq.limit, 0)
    members = [MemberIn(h.file_id, h.segment_id) for h in res.hits]
    # the origin keeps the filters given, by their public names
    return members, {"kind": "query", **fq.model_dump(exclude={"filters"}), "filters": fq.filters.active()}


@router.post("/datasets", status_code=201, response_model=DatasetOut, summary="Create a dataset",
             responses=problems(403, 404, 409))
def create_dataset(
    body: DatasetCreate,
    who: Annotated[str, Depends(require_editor)],
    datasets: DatasetsDep,
    store: SearchStoreDep,
    indexes: IndexesDep,
) -> DatasetOut:
    members = _members(body.members)
    origin: dict[str, Any] = {"kind": "manual"}
    if body.from_query is not None:
        found, origin = _from_query(body.from_query, store, indexes)
        members += found
    d = datasets.create(body.name, members, body.description, body.notes, who, origin, body.slug)
    return dataset_out(d, datasets.version(d.id))


@router.get("/datasets", summary="List datasets", responses=problems(403))
def list_datasets(
    request: Request,
    datasets: DatasetsDep,
    pg: Paged,
) -> PageOf[DatasetOut]:
    rows, total = datasets.list_datasets(pg.limit, pg.offset)
    return page(request, [dataset_out(d) for d in rows], total, pg.limit, pg.offset)


@router.get("/datasets/{dataset_id}", response_model=DatasetOut, summary="A dataset with its newest version",
            responses=problems(404))
def get_dataset(request: Request, dataset_id: DatasetId,
                datasets: DatasetsDep) -> DatasetOut:
    d = datasets.get(dataset_id)
    out = dataset_out(d, datasets.version(dataset_id))
    out.protocol_labels = get_protocols(request).protocol_labels("dataset", d.id)[0]
    return out


def curator(request: Request, dataset_id: DatasetId, datasets: DatasetsDep) -> str:
    """Changes to a dataset come from its curator (whoever made it) or a moderator: another editor's
    changes would be published under the curator's name. Others make their own dataset."""
    who = require_editor(request)
    d = datasets.get(dataset_id)  # a hidden or missing dataset is a 404 before any 403
    if current(request).at_least("moderator") or d.created_by == who:
        return who
    raise Forbidden(f"only the dataset's curator ({d.created_by}) or a moderator may change it; "
                    "create your own dataset from its members instead", curator=d.created_by)


Curator = Annotated[str, Depends(curator)]


@router.patch("/datasets/{dataset_id}", response_model=DatasetOut,
              summary="Edit the purpose and/or curation notes: makes a new version with the same members",
              responses=problems(403, 404, 409))
def edit_dataset(
    dataset_id: DatasetId,
    body: DatasetEdit,
    who: Curator,
    datasets: DatasetsDep,
) -> DatasetOut:
    changes: dict[str, str | None] = {k: getattr(body, k) for k in ("description", "notes")
                                      if k in body.model_fields_set}
    datasets.edit(dataset_id, changes, who, body.version_notes)
    return dataset_out(datasets.get(dataset_id), datasets.version(dataset_id))


@router.post("/datasets/{dataset_id}/members", response_model=VersionOut, status_code=201,
             summary="Add and/or remove members: makes a new version", responses=problems(403, 404, 409))
def change_members(
    dataset_id: DatasetId,
    body: MembersChange,
    who: Curator,
    datasets: DatasetsDep,
) -> VersionOut:
    v = datasets.change(dataset_id, _members(body.add), _members(body.remove), body.notes, who)
    return version_out(v, True)


@router.get("/datasets/{dataset_id}/versions", summary="Every version, oldest first", responses=problems(403, 404))
def versions(
    request: Request,
    dataset_id: DatasetId,
    datasets: DatasetsDep,
    pg: Paged,
    with_members: bool = False,
) -> PageOf[VersionOut]:
    every = datasets.versions(dataset_id)
    vs = every[pg.offset:pg.offset + pg.limit]
    if with_members:
        vs = [datasets.version(dataset_id, v.version) for v in vs]
    items = [version_out(v, with_members) for v in vs]
    return page(request, items, len(every), pg.limit, pg.offset)


@router.get("/datasets/{dataset_id}/licence", summary="What the members' licences allow together",
            responses=problems(404))
def licence(
    dataset_id: DatasetId,
    datasets: DatasetsDep,
    version: Annotated[int | None, Query(ge=1, le=10**9)] = None,
) -> LicenceSummaryOut:
    b = datasets.export_bundle(dataset_id, version)
    active = [m for m in b.members if m.status == "active"]
    from tessera.core.licences import licence_for_spdx

    nd = sum(1 for m in active if m.segment_id is not None and licence_for_spdx(m.licence_spdx).no_derivatives)
    out = summarise([m.licence_spdx for m in active], segments_from_nd=nd).as_dict()
    return LicenceSummaryOut(dataset_id=dataset_id, version=b.version, withdrawn=len(b.members) - len(active), **out)


@router.get("/datasets/{dataset_id}/export", summary="The export archive (zip)", response_class=FileResponse,
            responses={200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "the export: manifest, datasheet, Croissant, fetch script"},
                       **problems(404, 409)})
def export_dataset(
    request: Request,
    dataset_id: DatasetId,
    datasets: DatasetsDep,
    version: Annotated[int | None, Query(ge=1, le=10**9)] = None,
    with_audio: Annotated[bool, Query(description="bundle the full audio (needs an API key)")] = False,
    clustering_run: Annotated[int | None, Query(ge=1, le=ID_MAX, description=(
        "the clustering run of the cluster column; default: the run of the cluster the version was "
        "made from, else the newest run"))] = None,
) -> FileResponse:
    # bundled audio is bulk full-resolution streaming: never for the anonymous public
    if with_audio and current(request).role == "anonymous":
        raise Unauthorized("an export with audio needs an API key (Authorization: Bearer <key>)")
    b = datasets.export_bundle(dataset_id, version, clustering_run)
    tmp = Path(tempfile.mkdtemp(prefix="tessera-export-"))
    try:
        # absolute links only under the configured public URL: never built from the request's Host
        rep = export(b, tmp / f"{b.slug}-v{b.version}.zip", with_audio=with_audio,
                     links=Links(get_settings(request).public_url))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return FileResponse(rep.path, media_type="application/zip", filename=rep.path.name,
                        background=BackgroundTask(shutil.rmtree, tmp, ignore_errors=True))
