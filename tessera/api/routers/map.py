"""The whole map in one request: a run's visible points as little-endian typed arrays, and a small JSON header.

``GET /api/clusterings/{run_id}/map`` answers what the web app draws around the points (the run, its clusters
with explanations and labels, how many points there are and how they are laid out);
``GET /api/clusterings/{run_id}/points.bin`` answers every point the caller may see, for anonymous callers
too: about 14 bytes a point (1M points in 14 MB, one request), with a strong ETag so that a browser
revalidates instead of downloading again.

Layout of ``points.bin`` (``application/vnd.tessera.points``, little-endian, every column 4-byte aligned)::

    offset  type            what
    0       4 bytes         magic b"TSPT"
    4       uint32          format version (1)
    8       uint32          n, points
    12      uint32          k, clusters
    16      float64 x 3     x0, y0, span: a coordinate in the run is x0 + x * span (y alike)
    40      uint32          unclustered points (they come first)
    44      uint32          clamped points (outliers pulled onto the edge of [0, 1])
    48      uint32[k]       cluster ids; a point's cluster index points into this list
    ..      uint32[n]       item ids, ascending within the unclustered and within the clustered points
    ..      float32[n]      x in [0, 1]
    ..      float32[n]      y in [0, 1]
    ..      uint16[n]       cluster index, 0xFFFF for unclustered; then 0 or 2 bytes of padding

Coordinates are normalised by robust bounds (percentiles with a margin, never a lone extreme value), with
one scale for both axes so that the map keeps its shape; points beyond the bounds are clamped onto its
edge, so an extreme coordinate can neither vanish nor squash every other point into one pixel.

Visibility is the same as in ``GET /api/clusterings/{run_id}``: the same join on the files and the same
``searchable_clause`` (consent withdrawn or lapsed, and cultural protocols that exclude the caller, hide
an item), evaluated per request for the caller.
"""

from __future__ import annotations

import hashlib
import struct
import threading
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from sqlalchemy import case, func, select

from tessera.api.routers.taxonomy import Store
from tessera.catalog.errors import NotFound
from tessera.catalog.models import AudioFile
from tessera.catalog.store import searchable_clause
from tessera.catalog.taxonomy_models import Cluster, ClusteringRun, ClusterMember
from tessera.catalog.taxonomy_store import TaxonomyStore

router = APIRouter(prefix="/api", tags=["taxonomy"])
_lock = threading.Lock()  # requests run in a thread pool: one writer at a time for the caches below

Id = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
MAGIC = b"TSPT"
VERSION = 1
HEADER = struct.Struct("<4sIIIdddII")  # magic, version, n, k, x0, y0, span, unclustered, clamped
UNCLUSTERED = 0xFFFF
MEDIA_TYPE = "application/vnd.tessera.points"
# robust bounds: the central 99.8 % of the points (a lone value never sets them); points further out than
# half that span beyond it are clamped onto the edge
TAIL = 0.001
FENCE = 0.5
LAYOUT = {
    "media_type": MEDIA_TYPE, "version": VERSION, "byte_order": "little-endian",
    "header": "magic 'TSPT', uint32 version, uint32 n, uint32 k, float64 x0, float64 y0, float64 span, "
              "uint32 unclustered, uint32 clamped (48 bytes)",
    "columns": [{"name": "cluster_ids", "type": "uint32", "length": "k"},
                {"name": "item_id", "type": "uint32", "length": "n"},
                {"name": "x", "type": "float32", "length": "n", "range": [0, 1]},
                {"name": "y", "type": "float32", "length": "n", "range": [0, 1]},
                {"name": "cluster", "type": "uint16", "length": "n", "unclustered": UNCLUSTERED}],
    "coordinates": "run coordinate = x0 + value * span; one span for both axes; outliers clamped to [0, 1]",
    "order": "unclustered points first, then clustered; item ids ascending within each",
}


@dataclass(frozen=True)
class Normalised:
    x: np.ndarray  # float32 in [0, 1]
    y: np.ndarray
    x0: float
    y0: float
    span: float
    clamped: int


def robust_bounds(v: np.ndarray) -> tuple[float, float]:
    """(low, high): the extreme values, leaving out those further than FENCE core spans beyond the core.

    The core runs from the second smallest (or the TAIL quantile) to the second largest value (or the
    1 - TAIL quantile), so a lone extreme value never sets it.
    """
    if not len(v):
        return 0.0, 1.0
    vmin, vmax = float(v.min()), float(v.max())
    if len(v) < 4:
        return vmin, vmax
    part = np.partition(v, (1, len(v) - 2))
    lo = min(float(part[1]), float(np.quantile(v, TAIL, method="higher")))
    hi = max(float(part[-2]), float(np.quantile(v, 1 - TAIL, method="lower")))
    fence = (hi - lo) * FENCE
    inside = v[(v >= lo - fence) & (v <= hi + fence)]  # never empty: lo and hi are values of v
    return float(inside.min()), float(inside.max())


def normalise(x: np.ndarray, y: np.ndarray) -> Normalised:
    """Map run coordinates into [0, 1] with one scale for both axes, centred; clamp outliers onto the edge."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    finite = np.isfinite(x) & np.isfinite(y)
    xb = robust_bounds(x[finite])
    yb = robust_bounds(y[finite])
    span = max(xb[1] - xb[0], yb[1] - yb[0])
    if not np.isfinite(span) or span <= 0:
        span = 1.0
    # centre the shorter axis in [0, 1]
    x0 = xb[0] - (span - (xb[1] - xb[0])) / 2
    y0 = yb[0] - (span - (yb[1] - yb[0])) / 2
    nx = np.where(finite, (x - x0) / span, 0.5)
    ny = np.where(finite, (y - y0) / span, 0.5)
    outside = (nx < 0) | (nx > 1) | (ny < 0) | (ny > 1) | ~finite
    return Normalised(np.clip(nx, 0, 1).astype(np.float32), np.clip(ny, 0, 1).astype(np.float32),
                      x0, y0, span, int(outside.sum()))


def _run_or_404(store: TaxonomyStore, run_id: int) -> ClusteringRun:
    with store.db.session() as s:
        run = s.get(ClusteringRun, run_id)
        if run is None:
            raise NotFound(f"clustering run {run_id} not found", id=run_id)
        s.expunge(run)
        return run


def _cluster_ids(store: TaxonomyStore, run_id: int) -> list[int]:
    with store.db.session() as s:
        return [int(c) for c in s.scalars(select(Cluster.id).where(Cluster.run_id == run_id)
                                          .order_by(Cluster.local_label))]


@dataclass(frozen=True)
class RunPoints:
    """Every member of a run (visible or not): fixed once the run is saved, but for rows deleted with their
    file (foreign keys cascade), which the member count shows."""

    count: int
    ids: np.ndarray  # int64, ascending
    cids: np.ndarray  # int64, -1 for unclustered
    xs: np.ndarray
    ys: np.ndarray


def _member_count(store: TaxonomyStore, run_id: int) -> int:
    with store.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(ClusterMember)
                            .where(ClusterMember.run_id == run_id)) or 0)


def _run_points(request: Request, store: TaxonomyStore, run_id: int) -> RunPoints:
    """The run's members, kept per app (two runs at most) while the member count stays the same."""
    cache: dict[int, RunPoints] | None = getattr(request.app.state, "map_points", None)
    if cache is None:
        cache = request.app.state.map_points = {}
    count = _member_count(store, run_id)
    got = cache.get(run_id)
    if got is not None and got.count == count:
        return got
    with store.db.engine.connect() as conn:  # plain rows: a million ORM rows cost seconds
        rows = conn.execute(select(ClusterMember.file_id, ClusterMember.cluster_id, ClusterMember.x, ClusterMember.y)
                            .where(ClusterMember.run_id == run_id).order_by(ClusterMember.file_id)).all()
    a = np.array([(r[0], -1 if r[1] is None else r[1], r[2], r[3]) for r in rows], dtype=np.float64).reshape(-1, 4)
    got = RunPoints(len(rows), a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 2].copy(), a[:, 3].copy())
    with _lock:
        cache.pop(run_id, None)
        while len(cache) >= 2:
            del cache[next(iter(cache))]
        cache[run_id] = got
    return got


def _hidden_ids(store: TaxonomyStore) -> np.ndarray:
    """Ids of the files the current viewer may not see: exactly those for which ``searchable_clause`` (what
    ``GET /api/clusterings/{id}`` filters its points with) is not true. Few, where the visible are many."""
    hidden = case((searchable_clause(), 0), else_=1) == 1  # NULL counts as not visible
    with store.db.engine.connect() as conn:
        return np.array(conn.execute(select(AudioFile.id).where(hidden)).scalars().all(), dtype=np.int64)


def _body(request: Request, store: TaxonomyStore, run_id: int) -> tuple[bytes, str]:
    """(points.bin body, its ETag) for the current viewer: the run's members less the files the viewer may
    not see, as in ``TaxonomyStore.get_run`` (members joined to their files, filtered by
    ``searchable_clause``). Bodies are kept per visible subset (four at most), so a viewer whose view
    did not change costs two small queries."""
    run = _run_points(request, store, run_id)
    hidden = run.ids[np.isin(run.ids, _hidden_ids(store))]
    key = (run_id, run.count, hashlib.blake2b(hidden.tobytes(), digest_size=16).digest())
    cache: dict[Any, tuple[bytes, str]] | None = getattr(request.app.state, "map_bodies", None)
    if cache is None:
        cache = request.app.state.map_bodies = {}
    got = cache.get(key)
    if got is None:
        keep = ~np.isin(run.ids, hidden)
        body = encode_points(_cluster_ids(store, run_id), run.ids[keep], run.cids[keep], run.xs[keep],
                             run.ys[keep])
        got = (body, _etag(body))
        with _lock:
            while len(cache) >= 4:
                del cache[next(iter(cache))]
            cache[key] = got
    return got


def encode_points(cluster_ids: list[int], ids: np.ndarray, cids: np.ndarray, xs: np.ndarray,
                  ys: np.ndarray) -> bytes:
    """The ``points.bin`` body (see the module docstring)."""
    order = np.lexsort((ids, cids >= 0))  # unclustered first, ids ascending within each
    ids, cids, xs, ys = ids[order], cids[order], xs[order], ys[order]
    known = np.asarray(cluster_ids, dtype=np.int64)
    by_id = np.argsort(known)
    member = cids >= 0
    cidx = np.full(len(ids), UNCLUSTERED, dtype=np.uint16)
    if len(known):
        pos = np.clip(np.searchsorted(known[by_id], cids), 0, len(known) - 1)
        hit = member & (known[by_id][pos] == cids) & (by_id[pos] < UNCLUSTERED)  # k < 65535
        cidx[hit] = by_id[pos[hit]]
    norm = normalise(xs, ys)
    head = HEADER.pack(MAGIC, VERSION, len(ids), len(cluster_ids), norm.x0, norm.y0, norm.span,
                       int((~member).sum()), norm.clamped)
    parts = [head, np.asarray(cluster_ids, dtype="<u4").tobytes(), ids.astype("<u4").tobytes(),
             norm.x.astype("<f4").tobytes(), norm.y.astype("<f4").tobytes(), cidx.astype("<u2").tobytes()]
    if len(ids) % 2:
        parts.append(b"\0\0")
    return b"".join(parts)


def decode_points(body: bytes) -> dict[str, Any]:
    """Read a ``points.bin`` body back (for tests, benchmarks and Python clients)."""
    magic, version, n, k, x0, y0, span, unclustered, clamped = HEADER.unpack_from(body, 0)
    if magic != MAGIC or version != VERSION:
        raise ValueError("not a Tessera points file of a known version")
    at = HEADER.size
    cluster_ids = np.frombuffer(body, "<u4", k, at)
    at += 4 * k
    ids = np.frombuffer(body, "<u4", n, at)
    at += 4 * n
    x = np.frombuffer(body, "<f4", n, at)
    at += 4 * n
    y = np.frombuffer(body, "<f4", n, at)
    at += 4 * n
    cidx = np.frombuffer(body, "<u2", n, at)
    return {"n": n, "k": k, "x0": x0, "y0": y0, "span": span, "unclustered": unclustered, "clamped": clamped,
            "cluster_ids": cluster_ids, "item_id": ids, "x": x, "y": y, "cluster": cidx}


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _matches(request: Request, etag: str) -> bool:
    given = request.headers.get("if-none-match", "")
    tags = {t.strip().removeprefix("W/") for t in given.split(",")}
    return etag in tags or "*" in tags


@router.get("/clusterings/{run_id}/points.bin", summary="Every visible map point of a run, as typed arrays",
            response_class=Response,
            responses={200: {"content": {MEDIA_TYPE: {}}, "description": "the points (layout: see /map)"},
                       304: {"description": "not modified (If-None-Match)"}})
def points_bin(request: Request, run_id: Id, store: Store) -> Response:
    _run_or_404(store, run_id)
    body, etag = _body(request, store, run_id)
    # no-cache: the browser keeps it but asks again each time, so a withdrawal hides a point at once
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "X-Tessera-Points": str(HEADER.unpack_from(
        body, 0)[2]), "Vary": "Authorization, Cookie"}
    if _matches(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=MEDIA_TYPE, headers=headers)


@router.get("/clusterings/{run_id}/map", summary="A run for the map: clusters and how to read its points.bin")
def run_map(request: Request, run_id: Id, store: Store) -> dict[str, Any]:
    # the run and its clusters exactly as GET /api/clusterings/{id} shows them, without a dict per point
    run = _run_or_404(store, run_id)
    with store.db.session() as s:
        clusters = s.scalars(select(Cluster).where(Cluster.run_id == run_id).order_by(Cluster.local_label)).all()
        labels = store._labels_by_identity(s, [c.identity_id for c in clusters], with_absorbed=True)
        visible = store._visible(s, [f for c in clusters for f in c.exemplars])
        detail = [store._cluster_dict(c, labels.get(c.identity_id, []), visible) for c in clusters]
        sample = s.scalars(
            select(ClusterMember.file_id)
            .join(AudioFile, AudioFile.id == ClusterMember.file_id)
            .where(ClusterMember.run_id == run_id, ClusterMember.cluster_id.is_(None), searchable_clause())
            .order_by(ClusterMember.file_id).limit(50)
        ).all()
    return {**store._run_dict(run), "clusters_detail": detail,
            "unclustered_sample": [int(f) for f in sample],
            "points_url": str(request.url_for("points_bin", run_id=run_id).path), "points_layout": LAYOUT}
