"""Map points as compact typed arrays: normalised coordinates, the binary layout, a per-run member cache.

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

Visibility is applied by ``TaxonomyStore.map_points`` for the store's viewer, as every other read of items.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

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


@dataclass(frozen=True)
class RunMembers:
    """Every member of a run (visible or not): fixed once the run is saved, but for rows deleted with their
    file (foreign keys cascade), which the member count shows."""

    count: int
    ids: np.ndarray  # int64, ascending
    cids: np.ndarray  # int64, -1 for unclustered
    xs: np.ndarray
    ys: np.ndarray


class MemberCache:
    """The members of the last two runs asked for, reloaded when a run's member count changes.

    Viewer-independent (no visibility applied): only ``TaxonomyStore.map_points`` reads it, and it filters.
    """

    def __init__(self, runs: int = 2) -> None:
        self.runs = runs
        self._lock = threading.Lock()
        self._members: dict[int, RunMembers] = {}

    def get(self, run_id: int, count: int, load: Callable[[], RunMembers]) -> RunMembers:
        got = self._members.get(run_id)
        if got is not None and got.count == count:
            return got
        got = load()
        with self._lock:
            self._members.pop(run_id, None)
            while len(self._members) >= self.runs:
                del self._members[next(iter(self._members))]
            self._members[run_id] = got
        return got


@dataclass(frozen=True)
class VisiblePoints:
    cluster_ids: list[int]
    ids: np.ndarray
    cids: np.ndarray
    xs: np.ndarray
    ys: np.ndarray
    key: bytes  # the same for two viewers who see the same members of the same run

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


