"""An indexing run: features for every file not yet indexed, then the similarity indexes.

Work is spread over a process pool (or a Dask cluster with the same task
function). Each result is written to the catalogue as it arrives, so a run
that is killed keeps what it finished and the next run picks up the rest.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tessera.catalog.store import Catalog, FeaturesOut, IndexTask
from tessera.indexer import similarity
from tessera.indexer.decode import decode
from tessera.indexer.dictionary import EXTRACTOR_VERSION
from tessera.indexer.errors import IndexerError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexParams:
    segment_seconds: float = 30.0
    segment_min_duration: float = 60.0
    max_audio_seconds: float = 4 * 3600.0
    max_file_bytes: int = 2 * 1024**3


@dataclass
class RunReport:
    total: int = 0
    indexed: int = 0
    failed: int = 0
    audio_seconds: float = 0.0
    failures: list[tuple[int, str]] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total, "indexed": self.indexed, "failed": self.failed,
            "audio_seconds": round(self.audio_seconds, 3),
            "failures": [{"id": i, "reason": r} for i, r in self.failures],
            "index": {k: {kk: vv for kk, vv in v.items() if kk != "standardiser"}
                      for k, v in self.manifest.get("spaces", {}).items()},
        }


def process_one(task: IndexTask, params: IndexParams) -> tuple[int, FeaturesOut | None, str | None]:
    """Decode and analyse one file. Never raises: a failure comes back as a reason."""
    try:
        p = Path(task.path)
        if not p.is_file():
            return task.file_id, None, f"file not found: {task.path}"
        size = p.stat().st_size
        if size > params.max_file_bytes:
            return task.file_id, None, f"too large: {size} bytes exceeds {params.max_file_bytes}"
        dec = decode(p, max_seconds=params.max_audio_seconds)
        from tessera.indexer.features import extract

        out = extract(dec, params.segment_seconds, params.segment_min_duration)
        return task.file_id, out, None
    except IndexerError as exc:
        return task.file_id, None, exc.message
    except Exception as exc:  # a bad file must never end the batch; keep the reason
        log.exception("unexpected failure on %s", task.path)
        return task.file_id, None, f"{type(exc).__name__}: {exc}"


def _worker_init() -> None:
    # one thread per worker: parallelism comes from processes, and BLAS threads only contend
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass


def _run_pool(tasks: list[IndexTask], params: IndexParams, workers: int
              ) -> Iterator[tuple[int, FeaturesOut | None, str | None]]:
    if workers <= 1:
        _worker_init()
        for t in tasks:
            yield process_one(t, params)
        return
    with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init) as pool:
        pending: set[Future[tuple[int, FeaturesOut | None, str | None]]] = set()
        it = iter(tasks)
        # bounded in-flight work keeps memory flat on huge collections
        for t in it:
            pending.add(pool.submit(process_one, t, params))
            if len(pending) >= workers * 4:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                yield f.result()
            for t in it:
                pending.add(pool.submit(process_one, t, params))
                if len(pending) >= workers * 4:
                    break


def _run_dask(tasks: list[IndexTask], params: IndexParams, scheduler: Any
              ) -> Iterator[tuple[int, FeaturesOut | None, str | None]]:
    from distributed import Client, as_completed

    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        futures = [client.submit(process_one, t, params, pure=False) for t in tasks]
        for fut in as_completed(futures):
            yield fut.result()
    finally:
        if not isinstance(scheduler, Client):
            client.close()


def run_index(
    catalog: Catalog,
    index_dir: Path,
    params: IndexParams,
    workers: int = 0,
    scheduler: Any = None,
    retry_failed: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[int, str | None], None] | None = None,
) -> RunReport:
    """Index what is new or changed, then rebuild the similarity indexes from the catalogue's vectors."""
    expired = catalog.expire_lapsed()
    if expired:
        log.info("consent lapsed for %d files", len(expired))
    tasks = catalog.files_to_index(EXTRACTOR_VERSION, retry_failed=retry_failed)
    report = RunReport(total=len(tasks))
    if on_start:
        on_start(len(tasks))
    workers = workers or os.cpu_count() or 1
    results = _run_dask(tasks, params, scheduler) if scheduler is not None else _run_pool(
        tasks, params, min(workers, max(1, len(tasks))))
    for file_id, out, err in results:
        if out is not None:
            catalog.save_features(file_id, out)
            report.indexed += 1
            report.audio_seconds += out.duration
        else:
            reason = err or "unknown error"
            catalog.mark_failed(file_id, reason, EXTRACTOR_VERSION)
            report.failed += 1
            report.failures.append((file_id, reason))
        if on_result:
            on_result(file_id, err)
    report.manifest = rebuild_indexes(catalog, index_dir)
    return report


def rebuild_indexes(catalog: Catalog, index_dir: Path) -> dict[str, Any]:
    vs = catalog.vector_set(EXTRACTOR_VERSION)
    index_dir.mkdir(parents=True, exist_ok=True)
    return similarity.build(vs, index_dir)
