"""Clustering runs, clusters, community schemes and labels, SKOS export.

Who acts: a user's API key names its holder. The shared bootstrap editor token names nobody,
so with it the actor comes from the ``X-Tessera-User`` header (default "editor-token"). This
is provisional until every editor has their own key; the header is ignored for user keys so
that nobody can act in another's name.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, Field

from tessera.api.auth import current, require
from tessera.api.deps import page
from tessera.api.errors import register_status
from tessera.api.routers.items import SpaceName
from tessera.catalog.accounts import Principal
from tessera.catalog.errors import NotFound
from tessera.catalog.store import Catalog
from tessera.catalog.taxonomy_store import TaxonomyStore
from tessera.taxonomy import skos
from tessera.taxonomy.errors import NotAllowed, NothingToCluster

router = APIRouter(prefix="/api", tags=["taxonomy"])
register_status(NotAllowed, 403)
register_status(NothingToCluster, 409)

EDITOR_TOKEN = "editor-token"  # the principal name auth gives the bootstrap token
Editor = Annotated[Principal, Depends(require("editor"))]
Id = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]
UserHeader = Annotated[str | None, Header(alias="X-Tessera-User", max_length=128,
                                          description="Provisional: who acts, with the shared editor token.")]


def get_taxonomy(request: Request) -> TaxonomyStore:
    store: TaxonomyStore | None = getattr(request.app.state, "taxonomy", None)
    if store is None:  # built once per app, from the app's own database
        store = TaxonomyStore(request.app.state.db)
        request.app.state.taxonomy = store
    return store


Store = Annotated[TaxonomyStore, Depends(get_taxonomy)]


def actor(who: Principal, header: str | None) -> str:
    if who.name == EDITOR_TOKEN and header and header.strip():
        return header.strip()
    return who.name


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


@router.get("/clusterings", summary="Clustering runs, newest first")
def list_runs(request: Request, store: Store, limit: Limit = 50, offset: Offset = 0) -> dict[str, Any]:
    items, total = store.list_runs(limit, offset)
    return page(request, items, total, limit, offset)


@router.get("/clusterings/{run_id}", summary="A run: clusters (explanation, exemplars, labels), map points")
def get_run(run_id: Id, store: Store) -> dict[str, Any]:
    return store.get_run(run_id)


@router.get("/clusters/{cluster_id}", summary="A cluster: explanation, members, labels, lineage")
def get_cluster(cluster_id: Id, store: Store) -> dict[str, Any]:
    return store.get_cluster(cluster_id)


@router.get("/schemes", summary="Community concept schemes")
def list_schemes(request: Request, store: Store, limit: Limit = 50, offset: Offset = 0) -> dict[str, Any]:
    items, total = store.list_schemes(limit, offset)
    return page(request, items, total, limit, offset)


@router.post("/schemes", status_code=201, summary="Create a concept scheme (editors)")
def add_scheme(body: SchemeIn, who: Editor, store: Store, user: UserHeader = None) -> dict[str, Any]:
    return store.add_scheme(body.slug, body.name, body.rule, actor(who, user), body.description, body.community,
                            body.stewards)


@router.get("/schemes/{slug}/skos", summary="A scheme as SKOS (Turtle or JSON-LD)")
def scheme_skos(request: Request, slug: Annotated[str, PathParam(max_length=64)], store: Store,
                format: Literal["turtle", "json-ld"] = "turtle") -> Response:
    data = store.skos_data(slug)
    base = str(request.base_url).rstrip("/") + "/api"
    return Response(skos.serialise(data, base, format), media_type=skos.FORMATS[format])


@router.post("/labels", status_code=201, summary="Propose a label for a cluster or an item (editors)")
def propose(body: LabelIn, who: Editor, store: Store, user: UserHeader = None) -> dict[str, Any]:
    return store.propose_label(body.scheme, body.text, body.lang, actor(who, user), identity_id=body.identity_id,
                               cluster_id=body.cluster_id, item_id=body.item_id, description=body.description,
                               cultural_context=body.cultural_context)


@router.get("/labels/{label_id}", summary="A label with its net votes")
def get_label(label_id: Id, store: Store) -> dict[str, Any]:
    return store.get_label(label_id)


@router.patch("/labels/{label_id}", summary="Edit a label's text, description or context (kept in history)")
def edit_label(label_id: Id, body: LabelEdit, who: Editor, store: Store, user: UserHeader = None) -> dict[str, Any]:
    return store.edit_label(label_id, actor(who, user), body.text, body.description, body.cultural_context)


@router.delete("/labels/{label_id}", summary="Remove a label (it stays in the record, with its history)")
def remove_label(label_id: Id, who: Editor, store: Store, user: UserHeader = None,
                 reason: Annotated[str | None, Query(max_length=2000)] = None) -> dict[str, Any]:
    return store.remove_label(label_id, actor(who, user), reason)


@router.post("/labels/{label_id}/votes", summary="Vote +1/-1 (one vote per voter; a new one replaces it)")
def vote(label_id: Id, body: VoteIn, who: Editor, store: Store, user: UserHeader = None) -> dict[str, Any]:
    return store.vote(label_id, actor(who, user), body.value)


@router.post("/labels/{label_id}/accept", summary="Accept by the scheme's rule (a steward, or enough votes)")
def accept(label_id: Id, request: Request, who: Editor, store: Store, user: UserHeader = None) -> dict[str, Any]:
    # admins and the bootstrap editor token may accept regardless of the rule; the history says so
    p = current(request)
    return store.accept(label_id, actor(who, user), override=p.name == EDITOR_TOKEN or p.at_least("admin"))


@router.get("/labels/{label_id}/history", summary="Every proposal, vote, acceptance, edit and removal")
def history(request: Request, label_id: Id, store: Store, limit: Limit = 200, offset: Offset = 0) -> dict[str, Any]:
    items, total = store.history(label_id, limit, offset)
    return page(request, items, total, limit, offset)


@router.post("/labels/{label_id}/links", status_code=201, summary="Link to a label in another scheme")
def link(label_id: Id, body: LinkIn, who: Editor, store: Store, user: UserHeader = None) -> dict[str, Any]:
    return store.link(label_id, body.other_label_id, body.kind, actor(who, user))


# -- source-record profiles -------------------------------------------------------------
def _profiles(request: Request, space: str) -> Any:
    """One RecordProfiles per space and index build: rebuilt after indexing or a withdrawal, not per request."""
    from tessera.indexer.dictionary import EXTRACTOR_VERSION
    from tessera.indexer.spaces import Standardiser, get_space
    from tessera.taxonomy.profiles import RecordProfiles

    idx = request.app.state.indexes
    idx.refresh()
    key = (space, idx.current_build())
    cache: dict[Any, Any] | None = getattr(request.app.state, "record_profiles", None)
    if cache is None:
        cache = request.app.state.record_profiles = {}
    if key not in cache:
        catalog: Catalog = request.app.state.catalog
        vs = catalog.vector_set(EXTRACTOR_VERSION, segments=False)
        sp = get_space(space)
        z = Standardiser.fit(sp, vs.matrix).transform(vs.matrix) if len(vs.file_ids) else vs.matrix
        cache.clear()
        cache[key] = RecordProfiles(z, vs.matrix, [int(f) for f in vs.file_ids], catalog.record_ids_of(), vs.ends)
    return cache[key]


def _record_brief(r: Any) -> dict[str, Any]:
    return {"id": r.id, "kind": r.kind, "identifier": r.identifier, "title": r.title, "creator": r.creator,
            "doi": r.doi, "page_url": r.page_url, "licence": r.licence_spdx}


@router.get("/records/{record_id}/profile", summary="How a source record (dataset, archive item) sounds")
def record_profile(request: Request, record_id: Id, space: Annotated[SpaceName, Query()] = "all") -> dict[str, Any]:
    catalog: Catalog = request.app.state.catalog
    rec = catalog.get_record(record_id)
    prof = _profiles(request, space)
    if record_id not in prof:
        raise NotFound(f"record {record_id} has no indexed, visible items", id=record_id)
    p = prof.profile(record_id)
    return {"record": _record_brief(rec), "space": space, "files": p.files, "total_duration": p.total_duration,
            "summary": p.summary, "features": [f.__dict__ for f in p.features], "exemplars": p.exemplars}


@router.get("/records/{record_id}/similar", summary="Source records that sound like this one")
def similar_records(request: Request, record_id: Id, space: Annotated[SpaceName, Query()] = "all",
                    k: Annotated[int, Query(ge=1, le=100)] = 10) -> dict[str, Any]:
    catalog: Catalog = request.app.state.catalog
    rec = catalog.get_record(record_id)
    prof = _profiles(request, space)
    if record_id not in prof:
        raise NotFound(f"record {record_id} has no indexed, visible items", id=record_id)
    hits = prof.similar(record_id, k)
    recs = catalog.get_records([h.record_id for h in hits])
    return {"record": _record_brief(rec), "space": space,
            "neighbours": [{"record": _record_brief(recs[h.record_id]), "distance": h.distance, "files": h.files}
                           for h in hits if h.record_id in recs]}
