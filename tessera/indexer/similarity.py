"""faiss indexes per similarity space: built from the catalogue's canonical vectors, persisted atomically
(tessera.indexer.builds), extended by increments (tessera.indexer.increment).

The index is a cache: deleting ``index_dir`` loses nothing, ``tessera index``
rebuilds it from the vectors held in the catalogue.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tessera.indexer.builds import DEAD, Rows, current_build, read_manifest, read_space, writing
from tessera.indexer.dictionary import EXTRACTOR_VERSION
from tessera.indexer.errors import IndexNotBuilt
from tessera.indexer.explain import Explanation, explain
from tessera.indexer.spaces import SPACES, Standardiser, get_space, space_digest
from tessera.indexer.store import VectorSet

log = logging.getLogger(__name__)

EXACT_LIMIT = 20_000  # below this many vectors exact search is fast enough and has recall 1
HNSW_M = 32
HNSW_EF_SEARCH = 128


@dataclass
class Hit:
    file_id: int
    segment_id: int | None
    start: float
    end: float
    distance: float


class HitRef(Protocol):
    """What an explanation needs of a hit: which row of the index it is."""

    @property
    def file_id(self) -> int: ...

    @property
    def segment_id(self) -> int | None: ...


@dataclass
class SpaceIndex:
    space: str
    index: Any  # faiss.Index
    standardiser: Standardiser
    file_ids: np.ndarray
    segment_ids: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    manifest: dict[str, Any]
    # withdrawn files still in an index that cannot delete (DEAD marks their rows), filtered at query time
    removed: set[int] = field(default_factory=set)

    def search(self, query: np.ndarray, k: int, exclude_files: set[int] | None = None) -> list[Hit]:
        """Nearest files (best row per file) to canonical query vectors (averaged when several)."""
        if self.index.ntotal == 0:
            return []
        q = self.standardiser.transform(np.atleast_2d(query)).mean(axis=0, keepdims=True)
        exclude = (exclude_files or set()) | self.removed
        want = k
        fetch = min(self.index.ntotal, max(4 * k + len(exclude) + 16, 64))
        while True:
            dist, idx = self.index.search(np.ascontiguousarray(q, dtype=np.float32), fetch)
            best: dict[int, Hit] = {}
            for d, i in zip(dist[0], idx[0], strict=True):
                if i < 0:
                    continue
                fid = int(self.file_ids[i])
                if fid in exclude or fid in best:
                    continue
                sid = int(self.segment_ids[i])
                best[fid] = Hit(fid, None if sid < 0 else sid, float(self.starts[i]), float(self.ends[i]),
                                float(np.sqrt(max(d, 0.0))))
                if len(best) >= want:
                    break
            if len(best) >= want or fetch >= self.index.ntotal:
                return sorted(best.values(), key=lambda h: (h.distance, h.file_id))[:want]
            fetch = min(self.index.ntotal, fetch * 4)


    def explain_hits(self, query: np.ndarray, hits: Sequence[HitRef]) -> list[Explanation]:
        """A plain-words explanation per hit, from the query's canonical vector(s) (averaged like ``search``)
        and the hit's row as stored in this index."""
        q = self.standardiser.transform(np.atleast_2d(query)).mean(axis=0)
        qz = self.standardiser.zscores(np.atleast_2d(query)).mean(axis=0)
        out = []
        for h in hits:
            sid = -1 if h.segment_id is None else h.segment_id
            rows = np.nonzero((self.file_ids == h.file_id) & (self.segment_ids == sid))[0]
            row = np.asarray(self.index.reconstruct(int(rows[0])), dtype=np.float32) if rows.size else q
            out.append(explain(self.standardiser, q, row, qz, self._zscores_of(row)))
        return out

    def _zscores_of(self, row: np.ndarray) -> np.ndarray | None:
        """Clipped z-scores of a stored row, recovered through the aspect projections when they are invertible."""
        std = self.standardiser
        z = np.zeros(len(std.columns), np.float32)
        for a, (_, sl) in zip(std.aspects, std.aspect_slices(), strict=True):
            if a.projection.shape[0] != a.projection.shape[1]:
                return None  # a reduced PCA cannot be undone: directions are then left out
            z[a.positions] = np.linalg.solve(a.projection.T, row[sl]) + a.mean
        return z


def _make_index(dim: int, n: int, exact_limit: int = EXACT_LIMIT) -> tuple[Any, str]:
    import faiss

    if n < exact_limit:
        return faiss.IndexFlatL2(dim), "flat"
    idx = faiss.IndexHNSWFlat(dim, HNSW_M)
    idx.hnsw.efConstruction = 200
    idx.hnsw.efSearch = HNSW_EF_SEARCH
    return idx, f"hnsw{HNSW_M}"


def recall_at_10(index: Any, data: np.ndarray, sample: int = 500, seed: int = 0) -> float:
    """Recall@10 of ``index`` against exact search, on queries drawn from the data itself."""
    import faiss

    n = data.shape[0]
    if n <= 10:
        return 1.0
    rng = np.random.default_rng(seed)
    q = data[rng.choice(n, size=min(sample, n), replace=False)]
    exact = faiss.IndexFlatL2(data.shape[1])
    exact.add(data)
    _, truth = exact.search(q, 10)
    _, got = index.search(q, 10)
    hits = sum(len(set(t) & set(g)) for t, g in zip(truth, got, strict=True))
    return hits / float(truth.size)


def index_kind(n: int, exact_limit: int = EXACT_LIMIT) -> str:
    return "flat" if n < exact_limit else f"hnsw{HNSW_M}"


def counts(index: Any, rows: Rows) -> dict[str, int]:
    """The manifest's row counts: live file and segment rows, and rows withdrawn but still in the graph."""
    live = rows.file_ids != DEAD
    return {"count": int(index.ntotal), "files": int((live & (rows.segment_ids < 0)).sum()),
            "segments": int((live & (rows.segment_ids >= 0)).sum()), "dead_rows": int((~live).sum())}


def build(vs: VectorSet, index_dir: Path, spaces: list[str] | None = None,
          exact_limit: int = EXACT_LIMIT, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build every space's index from all the vectors and switch CURRENT to it atomically.

    The standardiser of each space is fitted here and kept by the increments that follow, so that every
    row of an index is transformed alike (tessera.indexer.increment).
    """
    spaces = spaces or list(SPACES)
    rows = Rows(vs.file_ids, vs.segment_ids, vs.starts, vs.ends)
    file_mask = vs.segment_ids < 0
    with writing(index_dir) as w:
        manifest: dict[str, Any] = {"build": w.build_id, "kind": "build", "extractor_version": EXTRACTOR_VERSION,
                                    "built_at": datetime.now(UTC).isoformat(), **(meta or {}), "spaces": {}}
        for name in spaces:
            space = get_space(name)
            # statistics come from file-level vectors so long recordings do not dominate them
            std = Standardiser.fit(space, vs.matrix[file_mask])
            data = std.transform(vs.matrix) if vs.matrix.shape[0] else np.zeros((0, len(std.columns)), np.float32)
            t0 = time.perf_counter()
            index, kind = _make_index(data.shape[1], data.shape[0], exact_limit)
            if data.shape[0]:
                index.add(data)
            build_s = time.perf_counter() - t0
            recall = 1.0 if kind == "flat" else recall_at_10(index, data)
            tj = std.to_json()
            fitted = std.zscores(vs.matrix[file_mask]) if file_mask.any() else np.zeros((1, len(std.columns)))
            w.write_space(name, index, rows)
            manifest["spaces"][name] = {
                "space": name, "dimension": int(data.shape[1]), **counts(index, rows), "index_type": kind,
                "recall_at_10": recall, "recall_build": w.build_id, "build_seconds": round(build_s, 3),
                "standardiser": tj,
                # the transform travels with the index it built: its digest names it in the manifest and API
                "transform_digest": tj["digest"], "space_digest": space_digest(space),
                "extractor_version": EXTRACTOR_VERSION,
                # what increments compare against: the rows the standardiser saw, and the z-scores added since
                "fit_rows": int(file_mask.sum()), "z_mean": fitted.mean(axis=0).astype(float).round(5).tolist(),
                "added_since_fit": 0, "z_sum": [0.0] * len(std.columns),
                "increments_since_recall": 0,
            }
        w.commit(manifest)
    return manifest


def drop_rows(index: Any, rows: Rows, drop: np.ndarray, kind: str) -> tuple[Any, Rows]:
    """Take rows out of an index: a flat index deletes them (``remove_ids``); HNSW cannot delete, so its
    rows are marked withdrawn (file id ``DEAD``) and never returned, until the next full build."""
    if not drop.any():
        return index, rows
    if kind == "flat":
        import faiss

        index.remove_ids(faiss.IDSelectorBatch(np.nonzero(drop)[0].astype(np.int64)))
        return index, rows.take(~drop)
    erase_vectors(index, np.nonzero(drop)[0])
    fids = rows.file_ids.copy()
    fids[drop] = DEAD
    return index, Rows(fids, rows.segment_ids, rows.starts, rows.ends)


def erase_vectors(index: Any, positions: np.ndarray) -> None:
    """Overwrite the stored vectors of HNSW rows with zeros, in place.

    HNSW cannot delete a node, but a withdrawn recording's features must not stay in the index file:
    only its place in the graph remains (a dead row, never returned) until the next full build.
    """
    import faiss

    storage: Any = faiss.downcast_index(index.storage)  # a flat store of codes (IndexFlat)
    n, size = storage.ntotal, storage.code_size
    codes = faiss.rev_swig_ptr(storage.codes.data(), n * size).reshape(n, size)  # a view, not a copy
    codes[positions] = 0


def read_for_update(index_dir: Path, build_id: str, name: str, m: dict[str, Any]) -> tuple[Any, Rows]:
    """A space of the current build, with files an older build listed as removed turned into dead rows."""
    index, rows = read_space(index_dir, build_id, name)
    legacy = m.pop("removed_files", None)
    if legacy:
        index, rows = drop_rows(index, rows, np.isin(rows.file_ids, np.asarray(legacy, np.int64)), m["index_type"])
    return index, rows


def remove_files(index_dir: Path, file_ids: set[int]) -> str | None:
    """Take files out of the current indexes without rebuilding them; returns the new build id.

    The caller holds the index lock. Flat indexes delete the rows; HNSW rows are marked withdrawn
    (``drop_rows``). The new build is switched in atomically.
    """
    cur = current_build(index_dir)
    if not cur or not file_ids:
        return None
    manifest = read_manifest(index_dir, cur)
    gone = np.asarray(sorted(file_ids), dtype=np.int64)
    with writing(index_dir) as w:
        for name, m in manifest["spaces"].items():
            index, rows = read_for_update(index_dir, cur, name, m)
            index, rows = drop_rows(index, rows, np.isin(rows.file_ids, gone), m["index_type"])
            m.update(counts(index, rows))
            w.write_space(name, index, rows)
        manifest.update(build=w.build_id, derived_from=cur, kind="withdrawal", built_at=datetime.now(UTC).isoformat(),
                        rows_added=0)
        w.commit(manifest)
    return w.build_id


class IndexSet:
    """The current build's indexes, reloaded when CURRENT changes."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self._build: str | None = None
        self._spaces: dict[str, SpaceIndex] = {}
        self.manifest: dict[str, Any] = {}

    def current_build(self) -> str | None:
        return current_build(self.index_dir)

    def refresh(self) -> None:
        """Load the build CURRENT names when it changed: increments and withdrawals reach a running server."""
        build_id = self.current_build()
        if build_id == self._build:
            return
        if build_id is None:
            self._build, self._spaces, self.manifest = None, {}, {}
            return
        manifest = read_manifest(self.index_dir, build_id)
        spaces = {}
        for name, m in manifest["spaces"].items():
            index, rows = read_space(self.index_dir, build_id, name)
            removed = {int(x) for x in m.get("removed_files", [])}
            if (rows.file_ids == DEAD).any():
                removed.add(DEAD)
            spaces[name] = SpaceIndex(name, index, Standardiser.from_json(m["standardiser"]), rows.file_ids,
                                      rows.segment_ids, rows.starts, rows.ends, m, removed=removed)
        self._build, self._spaces, self.manifest = build_id, spaces, manifest

    def space(self, name: str) -> SpaceIndex:
        get_space(name)  # unknown names are a client error, not a missing build
        self.refresh()
        if name not in self._spaces:
            raise IndexNotBuilt("no similarity index has been built yet: run `tessera index`", space=name)
        return self._spaces[name]
