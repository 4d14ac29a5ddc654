"""Clustering runs, clusters, community schemes and labels, SKOS export.

Who acts: the caller's key names its holder; the shared bootstrap editor token acts as
"editor-token" and as nobody else, with an editor's rights only (no header can change who acts).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, Field

from tessera.accounts.store import Principal
from tessera.api.auth import current, require
from tessera.api.deps import (
    CatalogDep,
    Page,
    Paged,
    TaxonomyDep,
    get_catalog,
    get_protocols,
    get_services,
    get_settings,
    get_viewer,
    page,
    paginated,
)
from tessera.api.errors import problems
from tessera.api.routers.items import SpaceName
from tessera.api.schemas import PageOf
from tessera.api.schemas.taxonomy import (
    RecordBrief,
    RecordNeighbour,
    RecordProfileOut,
    RunPoints,
    SimilarRecordsOut,
)
from tessera.core.errors import NotFound, PageTooLarge
from tessera.taxonomy import skos
from tessera.taxonomy.records import ClusterDetail, FeatureEffect, HistoryEntry, Label, Link, Run, Scheme

router = APIRouter(prefix="/api", tags=["taxonomy"])

Editor = Annotated[Principal, Depends(require("editor"))]
Id = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


Store = TaxonomyDep



class SchemeIn(BaseModel):
    slug: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str = Field(min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=5000)
    community: str | None = Field(default=None, max_length=500)
    rule: dict[str, Any] = Field(description='{"min_net_votes": N} and/or {"steward_approval": true}')
    stewards: list[str] = Field(default_factory=list, max_length=100)


class LabelIn(BaseModel):
    scheme: str = Field(min_length=1, max_length=64, description="scheme slug")
    text: str = Field(min_length=1, max_length=500)
    lang: str = Field(min_length=1, max_length=64, description="BCP 47 language tag")
    cluster_id: int | None = Field(default=None, ge=1, le=2**31 - 1,
                                   description="a run's cluster; the label goes to its identity")
    identity_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    item_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    description: str | None = Field(default=None, max_length=5000)
    cultural_context: str | None = Field(default=None, max_length=5000)


class LabelEdit(BaseModel):
    text: str | None = Field(default=None, min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=5000)
    cultural_context: str | None = Field(default=None, max_length=5000)


class VoteIn(BaseModel):
    value: Literal[1, -1]


class LinkIn(BaseModel):
    other_label_id: int = Field(ge=1, le=2**31 - 1)
    kind: Literal["exactMatch", "closeMatch", "related"]


@router.get("/clusterings", summary="Clustering runs, newest first", responses=problems(403))
def list_runs(request: Request, store: Store, pg: Paged) -> PageOf[Run]:
    items, total = store.list_runs(pg.limit, pg.offset)
    return page(request, items, total, pg.limit, pg.offset)


@router.get("/clusterings/{run_id}", summary="A run: clusters (explanation, exemplars, labels), map points",
            responses=problems(403, 404))
def get_run(request: Request, run_id: Id, store: Store,
            points_offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
            points_limit: Annotated[int | None, Query(ge=1, le=10**7, description="map points in this answer; "
                                                      "the anonymous public gets at most anonymous_max_points")]
            = None) -> RunPoints:
    # the map is every item's coordinates: a bulk listing, so the public gets it in pages
    cap = get_settings(request).anonymous_max_points
    limit = points_limit
    if current(request).role == "anonymous":
        if limit is not None and limit > cap:
            raise PageTooLarge(f"more than {cap} map points need an API key", max_limit=cap)
        limit = limit or cap
    run = store.get_run(run_id)
    points = run.points
    end = len(points) if limit is None else points_offset + limit
    return RunPoints(**{**dict(run), "points": points[points_offset:end]}, points_total=len(points),
                     points_offset=points_offset, points_next=end < len(points))


@router.get("/clusters/{cluster_id}", summary="A cluster: explanation, members, labels, lineage",
            responses=problems(404))
def get_cluster(cluster_id: Id, store: Store) -> ClusterDetail:
    return store.get_cluster(cluster_id)


@router.get("/schemes", summary="Community concept schemes")
def list_schemes(request: Request, store: Store,
                 pg: Annotated[Page, paginated(anonymous_cap=False)]) -> PageOf[Scheme]:
    # uncapped for the public: the cluster page reads every scheme at once (limit=200), and schemes are few
    items, total = store.list_schemes(pg.limit, pg.offset)
    return page(request, items, total, pg.limit, pg.offset)


@router.post("/schemes", status_code=201, summary="Create a concept scheme (editors)",
             responses=problems(403, 409))
def add_scheme(body: SchemeIn, who: Editor, store: Store) -> Scheme:
    return store.add_scheme(body.slug, body.name, body.rule, who.name, body.description, body.community,
                            body.stewards)


@router.get("/schemes/{slug}/skos", summary="A scheme as SKOS (Turtle or JSON-LD)", response_class=Response,
            responses={200: {"content": {t: {"schema": {"type": "string"}} for t in skos.FORMATS.values()},
                             "description": "the scheme, its concepts and labels"}, **problems(404)})
def scheme_skos(request: Request, slug: Annotated[str, PathParam(max_length=64)], store: Store,
                format: Literal["turtle", "json-ld"] = "turtle") -> Response:
    data = store.skos_data(slug)
    # the configured public address, never the request's Host header (it would be written into the URIs)
    base = (get_settings(request).public_url or "").rstrip("/") + "/api"
    return Response(skos.serialise(data, base, format), media_type=skos.FORMATS[format])


@router.post("/labels", status_code=201, summary="Propose a label for a cluster or an item (editors)",
             responses=problems(403, 404))
def propose(body: LabelIn, who: Editor, store: Store) -> Label:
    return store.propose_label(body.scheme, body.text, body.lang, who.name, identity_id=body.identity_id,
                               cluster_id=body.cluster_id, item_id=body.item_id, description=body.description,
                               cultural_context=body.cultural_context)


@router.get("/labels/{label_id}", summary="A label with its net votes", responses=problems(404))
def get_label(label_id: Id, store: Store) -> Label:
    return store.get_label(label_id)


@router.patch("/labels/{label_id}", summary="Edit a label's text, description or context (kept in history)",
              responses=problems(403, 404))
def edit_label(label_id: Id, body: LabelEdit, who: Editor, store: Store) -> Label:
    # the proposer (until accepted), a steward of the scheme or a moderator: the store checks
    return store.edit_label(label_id, who.name, body.text, body.description, body.cultural_context,
                            privileged=who.at_least("moderator"))


@router.delete("/labels/{label_id}", summary="Remove a label (it stays in the record, with its history)",
               responses=problems(403, 404))
def remove_label(label_id: Id, who: Editor, store: Store,
                 reason: Annotated[str | None, Query(max_length=2000)] = None) -> Label:
    return store.remove_label(label_id, who.name, reason, privileged=who.at_least("moderator"))


@router.post("/labels/{label_id}/votes", summary="Vote +1/-1 (one vote per voter; a new one replaces it)",
             responses=problems(403, 404, 409))
def vote(label_id: Id, body: VoteIn, who: Editor, store: Store) -> Label:
    return store.vote(label_id, who.name, body.value)


@router.post("/labels/{label_id}/accept", summary="Accept by the scheme's rule (a steward, or enough votes)",
             responses=problems(403, 404, 409))
def accept(label_id: Id, request: Request, who: Editor, store: Store) -> Label:
    # admins may accept regardless of the rule (the history says so); the bootstrap token may not
    return store.accept(label_id, who.name, override=current(request).at_least("admin"))


@router.get("/labels/{label_id}/history", summary="Every proposal, vote, acceptance, edit and removal",
            responses=problems(403, 404))
def history(request: Request, label_id: Id, store: Store, pg: Paged) -> PageOf[HistoryEntry]:
    items, total = store.history(label_id, pg.limit, pg.offset)
    return page(request, items, total, pg.limit, pg.offset)


@router.post("/labels/{label_id}/links", status_code=201, summary="Link to a label in another scheme",
             responses=problems(403, 404))
def link(label_id: Id, body: LinkIn, who: Editor, store: Store) -> Link:
    return store.link(label_id, body.other_label_id, body.kind, who.name)


# -- source-record profiles -------------------------------------------------------------
def _profiles(request: Request, space: str) -> Any:
    """RecordProfiles per space, index build and visibility: rebuilt after indexing, a withdrawal or a
    change of protocol labels, not per request.

    Profiles are built from what the viewer may see, so the viewer (public, a community member, a
    moderator), the restricting protocol labels and the day (seasonal labels) are part of the key:
    a profile computed for a moderator must never answer the public.
    """
    from datetime import UTC, datetime

    import numpy as np

    from tessera.indexer.dictionary import EXTRACTOR_VERSION
    from tessera.indexer.spaces import Standardiser, get_space
    from tessera.taxonomy.profiles import RecordProfiles

    services = get_services(request)
    idx = services.indexes
    idx.refresh()
    build = idx.current_build()
    visibility = (get_viewer(request), get_protocols(request).protocol_fingerprint(),
                  datetime.now(UTC).strftime("%m-%d"))
    key = (space, build, visibility)
    cache: dict[Any, Any] | None = getattr(request.app.state, "record_profiles", None)
    if cache is None:
        cache = request.app.state.record_profiles = {}
    if key not in cache:
        catalog = get_catalog(request)
        visible = catalog.record_ids_of()  # the viewer's items only: protocols apply to profiles too
        vs = services.index_store.vector_set(EXTRACTOR_VERSION, segments=False)
        keep = np.isin(vs.file_ids, np.fromiter(visible, dtype=np.int64, count=len(visible)))
        fids, mat, ends = vs.file_ids[keep], vs.matrix[keep], vs.ends[keep]
        sp = get_space(space)
        z = Standardiser.fit(sp, mat).transform(mat) if len(fids) else mat
        for old in [k for k in cache if k[1] != build or k[2][1:] != visibility[1:]]:
            del cache[old]  # stale: another build, or protocol labels changed
        while len(cache) >= 8:  # a few viewers' views; bounded memory
            del cache[next(iter(cache))]
        cache[key] = RecordProfiles(z, mat, [int(f) for f in fids], visible, ends)
    return cache[key]


def _record_brief(r: Any) -> RecordBrief:
    return RecordBrief(id=r.id, kind=r.kind, identifier=r.identifier, title=r.title, creator=r.creator,
                       doi=r.doi, page_url=r.page_url, licence=r.licence_spdx)


@router.get("/records/{record_id}/profile", summary="How a source record (dataset, archive item) sounds",
            responses=problems(404))
def record_profile(request: Request, record_id: Id, catalog: CatalogDep,
                   space: Annotated[SpaceName, Query()] = "all") -> RecordProfileOut:
    rec = catalog.get_record(record_id)
    prof = _profiles(request, space)
    if record_id not in prof:
        raise NotFound(f"record {record_id} has no indexed, visible items", id=record_id)
    p = prof.profile(record_id)
    return RecordProfileOut(record=_record_brief(rec), space=space, files=p.files, total_duration=p.total_duration,
                            summary=p.summary, features=[FeatureEffect.model_validate(f.__dict__) for f in p.features],
                            exemplars=p.exemplars)


@router.get("/records/{record_id}/similar", summary="Source records that sound like this one",
            responses=problems(404))
def similar_records(request: Request, record_id: Id, catalog: CatalogDep,
                    space: Annotated[SpaceName, Query()] = "all",
                    k: Annotated[int, Query(ge=1, le=100)] = 10) -> SimilarRecordsOut:
    rec = catalog.get_record(record_id)
    prof = _profiles(request, space)
    if record_id not in prof:
        raise NotFound(f"record {record_id} has no indexed, visible items", id=record_id)
    hits = prof.similar(record_id, k)
    recs = catalog.get_records([h.record_id for h in hits])
    return SimilarRecordsOut(record=_record_brief(rec), space=space, neighbours=[
        RecordNeighbour(record=_record_brief(recs[h.record_id]), distance=h.distance, files=h.files)
        for h in hits if h.record_id in recs])
