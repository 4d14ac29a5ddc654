"""The whole map in one request: ``GET /api/clusterings/{run_id}/points.bin`` (every point the caller may see,
as little-endian typed arrays; layout in ``tessera.taxonomy.points``) and ``GET /api/clusterings/{run_id}/map``
(the run, its clusters and how to read the points), for anonymous callers too. ``points.bin`` takes the
filters of ``/api/search`` (the one grammar): a filtered map shows only the points that pass them.

About 14 bytes a point (1M points in 14 MB, one request), with a strong ETag so that a browser revalidates
instead of downloading again. Visibility is the taxonomy store's, for the request's viewer.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import Response

from tessera.api.deps import TaxonomyDep, get_search_store
from tessera.api.errors import problems
from tessera.api.filters import FiltersDep
from tessera.api.schemas.taxonomy import RunMap
from tessera.search.filters import Filters
from tessera.taxonomy.points import HEADER, LAYOUT, MEDIA_TYPE, MemberCache, encode_points
from tessera.taxonomy.store import TaxonomyStore

router = APIRouter(prefix="/api", tags=["taxonomy"])
_lock = threading.Lock()  # requests run in a thread pool: one writer at a time for the body cache

Id = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


def _members(request: Request) -> MemberCache:
    cache: MemberCache | None = getattr(request.app.state, "map_members", None)
    if cache is None:
        cache = request.app.state.map_members = MemberCache()
    return cache


def _body(request: Request, store: TaxonomyStore, run_id: int, flt: Filters) -> tuple[bytes, str]:
    """(points.bin body, its ETag) for the request's viewer. Bodies are kept per visible subset (four at
    most), so a viewer whose view did not change costs two small queries."""
    pts = store.map_points(run_id, _members(request))
    if not flt.is_empty():
        # a filtered map is a one-off: answered from the search stage's filter, not kept
        keep = np.isin(pts.ids, np.fromiter(get_search_store(request).matching_ids(flt), dtype=np.int64))
        body = encode_points(pts.cluster_ids, pts.ids[keep], pts.cids[keep], pts.xs[keep], pts.ys[keep])
        return body, _etag(body)
    cache: dict[bytes, tuple[bytes, str]] | None = getattr(request.app.state, "map_bodies", None)
    if cache is None:
        cache = request.app.state.map_bodies = {}
    got = cache.get(pts.key)
    if got is None:
        body = encode_points(pts.cluster_ids, pts.ids, pts.cids, pts.xs, pts.ys)
        got = (body, _etag(body))
        with _lock:
            while len(cache) >= 4:
                del cache[next(iter(cache))]
            cache[pts.key] = got
    return got


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _matches(request: Request, etag: str) -> bool:
    given = request.headers.get("if-none-match", "")
    tags = {t.strip().removeprefix("W/") for t in given.split(",")}
    return etag in tags or "*" in tags


@router.get("/clusterings/{run_id}/points.bin", summary="Every visible map point of a run, as typed arrays",
            response_class=Response,
            responses={200: {"content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
                             "description": "the points (layout: see /map)",
                             "headers": {"ETag": {"schema": {"type": "string"}},
                                         "X-Tessera-Points": {"description": "points in the body",
                                                              "schema": {"type": "integer"}}}},
                       304: {"description": "not modified (If-None-Match)"}, **problems(404)})
def points_bin(request: Request, run_id: Id, store: TaxonomyDep, flt: FiltersDep) -> Response:
    body, etag = _body(request, store, run_id, flt)
    # no-cache: the browser keeps it but asks again each time, so a withdrawal hides a point at once
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "X-Tessera-Points": str(HEADER.unpack_from(
        body, 0)[2]), "Vary": "Authorization, Cookie"}
    if _matches(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=MEDIA_TYPE, headers=headers)


@router.get("/clusterings/{run_id}/map", summary="A run for the map: clusters and how to read its points.bin",
            responses=problems(404))
def run_map(request: Request, run_id: Id, store: TaxonomyDep) -> RunMap:
    # the run and its clusters exactly as GET /api/clusterings/{id} shows them, without a dict per point
    return RunMap(**dict(store.run_head(run_id)), points_url=str(request.url_for("points_bin", run_id=run_id).path),
                  points_layout=LAYOUT)
