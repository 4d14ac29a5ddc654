"""faiss indexes per similarity space: built from the catalogue's canonical vectors, persisted atomically.

Layout under ``index_dir``::

    builds/<build-id>/<space>.faiss, <space>.rows.npz, manifest.json
    CURRENT                       # the build id in use, replaced atomically

The index is a cache: deleting ``index_dir`` loses nothing, ``tessera index``
rebuilds it from the vectors held in the catalogue.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tessera.indexer.dictionary import EXTRACTOR_VERSION
from tessera.indexer.errors import IndexNotBuilt
from tessera.indexer.explain import Explanation, explain
from tessera.indexer.spaces import SPACES, Standardiser, get_space
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
    removed: set[int] = field(default_factory=set)  # withdrawn files, filtered until the next build

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


def build(vs: VectorSet, index_dir: Path, spaces: list[str] | None = None,
          exact_limit: int = EXACT_LIMIT) -> dict[str, Any]:
    """Build every space's index from the vectors and switch CURRENT to it atomically."""
    import faiss

    spaces = spaces or list(SPACES)
    build_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    builds = index_dir / "builds"
    tmp = builds / f".tmp-{build_id}-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"build": build_id, "extractor_version": EXTRACTOR_VERSION,
                                "built_at": datetime.now(UTC).isoformat(), "spaces": {}}
    file_mask = vs.segment_ids < 0
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
        faiss.write_index(index, str(tmp / f"{name}.faiss"))
        np.savez(tmp / f"{name}.rows.npz", file_ids=vs.file_ids, segment_ids=vs.segment_ids, starts=vs.starts,
                 ends=vs.ends)
        manifest["spaces"][name] = {
            "space": name, "dimension": int(data.shape[1]), "count": int(data.shape[0]),
            "files": int(file_mask.sum()), "segments": int((~file_mask).sum()), "index_type": kind,
            "recall_at_10": recall, "build_seconds": round(build_s, 3), "standardiser": tj,
            # the transform travels with the index it built: its digest names it in the manifest and API
            "transform_digest": tj["digest"],
            "extractor_version": EXTRACTOR_VERSION,
        }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    final = builds / build_id
    os.replace(tmp, final)
    cur_tmp = index_dir / f".CURRENT.{os.getpid()}"
    cur_tmp.write_text(build_id)
    os.replace(cur_tmp, index_dir / "CURRENT")
    _prune(builds, keep={build_id})
    return manifest


def _prune(builds: Path, keep: set[str], keep_last: int = 2) -> None:
    done = sorted(p for p in builds.iterdir() if p.is_dir() and not p.name.startswith(".tmp-"))
    for p in done[:-keep_last]:
        if p.name not in keep:
            shutil.rmtree(p, ignore_errors=True)


def remove_files(index_dir: Path, file_ids: set[int]) -> str | None:
    """Take files out of the current indexes without rebuilding them; returns the new build id.

    Flat indexes drop the rows; HNSW cannot delete, so the files are listed in the manifest and
    filtered at query time until the next full build. The new build is switched in atomically.
    """
    import faiss

    cur = (index_dir / "CURRENT").read_text().strip() if (index_dir / "CURRENT").exists() else ""
    if not cur or not file_ids:
        return None
    src = index_dir / "builds" / cur
    manifest = json.loads((src / "manifest.json").read_text())
    build_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    tmp = index_dir / "builds" / f".tmp-{build_id}-{os.getpid()}"
    tmp.mkdir(parents=True)
    gone = np.asarray(sorted(file_ids), dtype=np.int64)
    for name, m in manifest["spaces"].items():
        rows = dict(np.load(src / f"{name}.rows.npz"))
        index = faiss.read_index(str(src / f"{name}.faiss"))
        drop = np.isin(rows["file_ids"], gone)
        if drop.any() and m["index_type"] == "flat":
            index.remove_ids(faiss.IDSelectorBatch(np.nonzero(drop)[0].astype(np.int64)))
            rows = {k: v[~drop] for k, v in rows.items()}
            m["count"] = int(index.ntotal)
            m["files"] = int((rows["segment_ids"] < 0).sum())
            m["segments"] = int((rows["segment_ids"] >= 0).sum())
        elif drop.any():
            m["removed_files"] = sorted(set(m.get("removed_files", [])) | {int(x) for x in gone})
        faiss.write_index(index, str(tmp / f"{name}.faiss"))
        np.savez(tmp / f"{name}.rows.npz", **rows)
    manifest["build"] = build_id
    manifest["derived_from"] = cur
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, index_dir / "builds" / build_id)
    cur_tmp = index_dir / f".CURRENT.{os.getpid()}"
    cur_tmp.write_text(build_id)
    os.replace(cur_tmp, index_dir / "CURRENT")
    _prune(index_dir / "builds", keep={build_id})
    return build_id


class IndexSet:
    """The current build's indexes, reloaded when CURRENT changes."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self._build: str | None = None
        self._spaces: dict[str, SpaceIndex] = {}
        self.manifest: dict[str, Any] = {}

    def current_build(self) -> str | None:
        try:
            return (self.index_dir / "CURRENT").read_text().strip() or None
        except FileNotFoundError:
            return None

    def refresh(self) -> None:
        build_id = self.current_build()
        if build_id == self._build:
            return
        if build_id is None:
            self._build, self._spaces, self.manifest = None, {}, {}
            return
        import faiss

        d = self.index_dir / "builds" / build_id
        manifest = json.loads((d / "manifest.json").read_text())
        spaces = {}
        for name, m in manifest["spaces"].items():
            rows = np.load(d / f"{name}.rows.npz")
            spaces[name] = SpaceIndex(
                name, faiss.read_index(str(d / f"{name}.faiss")), Standardiser.from_json(m["standardiser"]),
                rows["file_ids"], rows["segment_ids"], rows["starts"], rows["ends"], m,
                removed={int(x) for x in m.get("removed_files", [])},
            )
        self._build, self._spaces, self.manifest = build_id, spaces, manifest

    def space(self, name: str) -> SpaceIndex:
        get_space(name)  # unknown names are a client error, not a missing build
        self.refresh()
        if name not in self._spaces:
            raise IndexNotBuilt("no similarity index has been built yet: run `tessera index`", space=name)
        return self._spaces[name]
