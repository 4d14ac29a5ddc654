"""Index increments: new vectors join the live indexes, and a full build happens only when it must.

``tessera index`` compares the catalogue's searchable files (ids and when their features were saved,
not their vectors) with the current build's rows, reads the vectors of the new and re-analysed files
only, and adds them to each space's index; files that left the catalogue (linked as duplicates, no
longer searchable) leave the index. Its cost grows with what is new, plus one id scan and the
rewrite of the index files (a build is immutable: the increment is written aside and switched in, so
a killed run leaves the previous build serving).

A full build happens instead when:

- there is no build, or it predates increments, or was made by another extractor version;
- a space's definition changed (its ``space_digest``: features, aspects, weights, whitening);
- the index kind must change (a flat index grew past the exact limit);
- the standardisation drifted: every space standardises with robust statistics (median, IQR, and for
  ``all`` a PCA whitening) fitted at the build. Increments keep the build's statistics, so every row
  of an index is transformed alike and distances stay comparable; the mean z-score of the rows added
  since is tracked, and when it has moved the catalogue's mean by more than ``max_drift`` robust
  standard deviations in any feature, or the rows added exceed ``max_growth`` of those fitted, the
  statistics are refitted by a full build;
- withdrawn rows an HNSW graph cannot delete exceed ``max_dead`` of it (the build compacts them away);
- measured recall@10 fell below its bar: recall is measured on every build and every
  ``recall_every``-th increment, and recorded in the manifest.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from tessera.core.locks import exclusive
from tessera.indexer.builds import DEAD, Rows, clean_leftovers, current_build, read_manifest, read_rows, writing
from tessera.indexer.dictionary import EXTRACTOR_VERSION
from tessera.indexer.errors import IndexerError
from tessera.indexer.similarity import EXACT_LIMIT, build, counts, drop_rows, read_for_update, recall_at_10
from tessera.indexer.spaces import SPACES, Standardiser, get_space, space_digest
from tessera.indexer.store import IndexStore, VectorSet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IncrementParams:
    exact_limit: int = EXACT_LIMIT  # rows below which a space's index is flat (exact)
    recall_bar: float = 0.95  # measured recall@10 under this forces a full build
    recall_every: int = 10  # measure recall on every Nth increment (and on every build)
    max_drift: float = 0.25  # shift of the catalogue's mean z-score, in robust standard deviations
    max_growth: float = 1.0  # rows added since the fit, as a share of the rows fitted
    max_dead: float = 0.10  # withdrawn rows left in an HNSW graph, as a share of its rows


class _Rebuild(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def update_indexes(store: IndexStore, index_dir: Path, params: IncrementParams | None = None,
                   rebuild: bool = False) -> dict[str, Any]:
    """Bring the indexes in step with the catalogue: an increment when possible, else a full build.

    Runs under the index lock, like purges, so that a withdrawal is never overwritten by an update
    that read the catalogue before it. Returns the manifest now serving.
    """
    params = params or IncrementParams()
    index_dir.mkdir(parents=True, exist_ok=True)
    with exclusive(index_dir / ".lock"):
        clean_leftovers(index_dir)
        t0 = time.perf_counter()
        cur = current_build(index_dir)
        reason = "asked for" if rebuild else _rebuild_reason(index_dir, cur)
        if reason is None and cur is not None:
            manifest = read_manifest(index_dir, cur)
            since = datetime.fromisoformat(manifest["watermark"])
            # what changed is found from ids and save times, never by reading the catalogue's vectors
            recent = store.indexed_since(EXTRACTOR_VERSION, since)
            ids = store.searchable_ids(EXTRACTOR_VERSION)
            meta: dict[str, Any] = {"watermark": max([since, *recent.values()]).isoformat(),
                                    "timings": {"id_scan": round(time.perf_counter() - t0, 3)}}
            try:
                return _increment(store, index_dir, cur, manifest, ids, set(recent), meta, params, t0)
            except _Rebuild as r:
                reason = r.reason
        log.info("full index build: %s", reason)
        last = store.last_indexed(EXTRACTOR_VERSION)  # before the vectors: a file saved meanwhile is seen again
        vs = store.vector_set(EXTRACTOR_VERSION)
        meta = {"watermark": last.isoformat() if last else datetime.min.replace(tzinfo=UTC).isoformat(),
                "rebuild_reason": reason, "rows_added": int(vs.file_ids.shape[0]), "rows_removed": 0}
        manifest = build(vs, index_dir, exact_limit=params.exact_limit, meta=meta)
        manifest["seconds"] = round(time.perf_counter() - t0, 3)
        return manifest


def _rebuild_reason(index_dir: Path, cur: str | None) -> str | None:
    if cur is None:
        return "no index yet"
    try:
        manifest = read_manifest(index_dir, cur)
    except (OSError, ValueError):
        return "the current build's manifest is unreadable"
    if manifest.get("extractor_version") != EXTRACTOR_VERSION:
        return "the extractor version changed"
    if not manifest.get("watermark") or any("z_mean" not in m for m in manifest["spaces"].values()):
        return "the current build predates increments"
    if set(manifest["spaces"]) != set(SPACES):
        return "the set of spaces changed"
    for name, m in manifest["spaces"].items():
        if m.get("space_digest") != space_digest(get_space(name)):
            return f"the {name} space's definition changed"
        try:
            Standardiser.from_json(m["standardiser"])
        except (IndexerError, KeyError, ValueError):
            return f"the {name} space's stored transform is unreadable"
    return None


def _increment(store: IndexStore, index_dir: Path, cur: str, manifest: dict[str, Any], ids: np.ndarray,
               recent: set[int], meta: dict[str, Any], params: IncrementParams, t0: float) -> dict[str, Any]:
    names = list(manifest["spaces"])
    rows = read_rows(index_dir, cur, names[0])  # every space of a build holds the same rows
    held = {int(f) for f in np.unique(rows.file_ids)} - {DEAD}
    searchable = {int(f) for f in ids}
    changed = held & recent & searchable  # analysed again since the build
    new = (searchable - held) | changed
    drop = np.asarray(sorted((held - searchable) | changed), dtype=np.int64)
    if not new and not drop.size:
        return {**manifest, "unchanged": True}  # nothing new, nothing redone: the current build keeps serving
    t1 = time.perf_counter()
    vs = store.vector_set(EXTRACTOR_VERSION, file_ids=new) if new else None
    meta["timings"]["new_vectors"] = round(time.perf_counter() - t1, 3)
    if not drop.size and (vs is None or not vs.file_ids.size):
        return {**manifest, "unchanged": True}  # listed, but their vectors are gone (withdrawn meanwhile)
    with writing(index_dir) as w:
        for name in names:
            m = manifest["spaces"][name]
            t1 = time.perf_counter()
            index, rows = read_for_update(index_dir, cur, name, m)
            m["read_seconds"] = round(time.perf_counter() - t1, 3)
            gone = np.isin(rows.file_ids, drop)
            removed = int(gone.sum())
            index, rows = drop_rows(index, rows, gone, m["index_type"])
            if vs is not None and vs.file_ids.size:
                index, rows = _add(index, rows, vs, m)
            _check(index, rows, m, params, w.build_id)
            m.update(counts(index, rows))
            t1 = time.perf_counter()
            w.write_space(name, index, rows)
            m["write_seconds"] = round(time.perf_counter() - t1, 3)
        manifest.update(meta, build=w.build_id, kind="increment", derived_from=cur,
                        built_at=datetime.now(UTC).isoformat(), increments=manifest.get("increments", 0) + 1,
                        rows_added=int(vs.file_ids.shape[0]) if vs is not None else 0, rows_removed=removed,
                        files_added=len(new - changed), files_changed=len(changed),
                        files_removed=int(drop.size) - len(changed), rebuild_reason=None)
        manifest["seconds"] = round(time.perf_counter() - t0, 3)
        w.commit(manifest)
    log.info("index increment %s: +%d rows, -%d rows", w.build_id, manifest["rows_added"], removed)
    return manifest


def _add(index: Any, rows: Rows, vs: VectorSet, m: dict[str, Any]) -> tuple[Any, Rows]:
    """Append the new rows with the build's transform; faiss numbers them on from ``ntotal``, which is
    the row number of their entry in ``rows`` (the ids ``add_with_ids`` would be given)."""
    std = Standardiser.from_json(m["standardiser"])
    t0 = time.perf_counter()
    index.add(std.transform(vs.matrix))
    m["add_seconds"] = round(time.perf_counter() - t0, 3)
    file_rows = vs.segment_ids < 0
    z = std.zscores(vs.matrix[file_rows]) if file_rows.any() else np.zeros((0, len(std.columns)), np.float32)
    m["z_sum"] = (np.asarray(m["z_sum"], np.float64) + z.sum(axis=0)).tolist()
    m["added_since_fit"] = int(m["added_since_fit"]) + int(file_rows.sum())
    return index, rows.extend(Rows(vs.file_ids, vs.segment_ids, vs.starts, vs.ends))


def drift(m: dict[str, Any]) -> float:
    """How far the rows added since the fit moved the catalogue's mean z-score (robust sd, worst feature)."""
    added = int(m["added_since_fit"])
    if not added:
        return 0.0
    shift = (np.asarray(m["z_sum"], np.float64) - added * np.asarray(m["z_mean"], np.float64))
    return float(np.abs(shift).max() / max(int(m["fit_rows"]) + added, 1))


def _check(index: Any, rows: Rows, m: dict[str, Any], params: IncrementParams, build_id: str) -> None:
    """Raise _Rebuild when this space's increment is not good enough to serve."""
    n = int(index.ntotal)
    space = m["space"]
    if m["index_type"] == "flat" and n >= params.exact_limit:
        raise _Rebuild(f"{space}: {n} rows reach the exact limit {params.exact_limit}: an approximate index")
    m["drift"] = round(drift(m), 4)
    if m["drift"] > params.max_drift:
        raise _Rebuild(f"{space}: the standardisation drifted by {m['drift']:.2f} sd")
    if m["added_since_fit"] > params.max_growth * max(int(m["fit_rows"]), 1):
        raise _Rebuild(f"{space}: {m['added_since_fit']} rows added since the statistics were fitted "
                       f"on {m['fit_rows']}")
    dead = int((rows.file_ids == DEAD).sum())
    if dead > params.max_dead * max(n, 1):
        raise _Rebuild(f"{space}: {dead} withdrawn rows of {n} left in the graph")
    m["increments_since_recall"] = int(m.get("increments_since_recall", 0)) + 1
    if m["index_type"] == "flat" or m["increments_since_recall"] < params.recall_every:
        return
    recall = recall_at_10(index, np.asarray(index.reconstruct_n(0, n), np.float32), seed=n)
    m.update(recall_at_10=recall, recall_build=build_id, increments_since_recall=0)
    if recall < params.recall_bar:
        raise _Rebuild(f"{space}: recall@10 {recall:.3f} is under {params.recall_bar}")
