"""An indexing run: features for every file not yet indexed, then the similarity indexes.

Work is spread over a process pool, or over a Dask cluster whose workers
fetch each file by URL and run the same task function
(tessera.indexer.distributed). Each result is written to the catalogue as
it arrives, so a run that is killed keeps what it finished and the next
run picks up the rest.
A worker that dies (a crash in a decoder, the kernel's OOM killer, the CPU
limit per file) costs only the file it was analysing: that file is recorded
as failed and the pool is rebuilt.
"""

from __future__ import annotations

import logging
import math
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tessera.indexer.decode import TARGET_SR, decode, header_info
from tessera.indexer.dictionary import EXTRACTOR_VERSION
from tessera.indexer.errors import IndexerError
from tessera.indexer.fingerprint import DuplicateParams, find_duplicates
from tessera.indexer.increment import IncrementParams, update_indexes
from tessera.indexer.store import FeaturesOut, IndexStore, IndexTask

if TYPE_CHECKING:
    from tessera.indexer.distributed import RemoteAccess

log = logging.getLogger(__name__)

Result = tuple[int, FeaturesOut | None, str | None]

WORKER_DIED = ("worker died: the process analysing this file ended abruptly (a crash in a decoder, "
               "out of memory, or over the CPU limit per file)")


@dataclass(frozen=True)
class IndexParams:
    segment_seconds: float = 30.0
    segment_min_duration: float = 60.0
    max_audio_seconds: float = 4 * 3600.0
    max_file_bytes: int = 2 * 1024**3
    # peak memory one file may need (estimated from its header); with N workers up to N times this
    max_memory_bytes: int = 4 * 1024**3
    # CPU seconds one file may take in a pool worker before the kernel ends that worker; 0 = no limit
    max_cpu_seconds_per_file: float = 0.0
    # decoded length below (1 - this) of what the header claims: the file is cut short
    truncation_tolerance: float = 0.02
    duplicates: DuplicateParams = field(default_factory=DuplicateParams)
    increment: IncrementParams = field(default_factory=IncrementParams)


@dataclass
class RunReport:
    total: int = 0
    indexed: int = 0
    failed: int = 0
    duplicates: int = 0  # indexed files linked to another copy of the same recording
    audio_seconds: float = 0.0
    failures: list[tuple[int, str]] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total, "indexed": self.indexed, "failed": self.failed, "duplicates": self.duplicates,
            "audio_seconds": round(self.audio_seconds, 3),
            "failures": [{"id": i, "reason": r} for i, r in self.failures],
            "index": {k: {kk: vv for kk, vv in v.items() if kk not in ("standardiser", "z_sum", "z_mean")}
                      for k, v in self.manifest.get("spaces", {}).items()},
            "build": {k: self.manifest.get(k) for k in ("build", "kind", "rebuild_reason", "rows_added",
                                                         "rows_removed", "seconds")},
        }


# what a worker holds before any file (interpreter, numpy, scipy, essentia and its algorithms: ~265 MB by
# ru_maxrss), the blocks of spectra in flight (~24 s each) and the fingerprint's first two minutes
BASE_PEAK_BYTES = 400 * 1024**2
FRAME_DESCRIPTOR_BYTES = 600  # compact per-frame descriptors kept for the statistics, per 1024-sample hop


def estimated_peak_bytes(seconds: float, sample_rate: int, channels: int) -> int:
    """Peak memory of decode + extract for a file of this length.

    Decoding streams the channels in 24 s blocks and keeps only the 44.1 kHz mono mix (4 bytes a sample);
    a source at another rate also holds its mono mix at that rate while it is resampled. Extraction holds
    the mix, ~0.6 kB of descriptors per frame and, for the file's dynamic complexity, a second copy of the
    mix inside essentia. Measured with ru_maxrss in a fresh process, 44.1 kHz stereo FLAC: 393 MB for
    300 s, 739 MB for 1200 s (0.40 MB per second above the worker's ~263 MB; 3.1 MB per second before
    extraction went block by block); this estimates 567 and 908 MB, and accepts up to ~2.8 hours in 4 GiB.
    """
    mono = TARGET_SR * 4
    # resampling holds the source-rate mix, its 44.1 kHz result and scipy's filter state: ~1.3 mixes measured
    decoding = mono if sample_rate == TARGET_SR else max(sample_rate, 1) * 4 + 1.5 * mono
    per_second = max(decoding, 2 * mono) + FRAME_DESCRIPTOR_BYTES * TARGET_SR / 1024
    blocks = 24 * max(sample_rate, 1) * max(channels, 1) * 4 * 4  # a block of channels and its K-weighted copies
    return int(BASE_PEAK_BYTES + blocks + seconds * per_second)


# lossless headers state the exact length; an MP3's is an estimate from its first frames
EXACT_LENGTH_SUFFIXES = frozenset({".wav", ".wave", ".flac", ".aif", ".aiff", ".aifc", ".w64", ".rf64"})


def process_one(task: IndexTask, params: IndexParams) -> Result:
    """Decode and analyse one file. Never raises: a failure comes back as a reason."""
    try:
        p = Path(task.path)
        if not p.is_file():
            return task.file_id, None, f"file not found: {task.path}"
        size = p.stat().st_size
        if size > params.max_file_bytes:
            return task.file_id, None, f"too large: {size} bytes exceeds {params.max_file_bytes}"
        head = header_info(p)
        # the file's own header sizes the memory estimate; the registered length only when it has none
        claimed = head.duration if head and head.duration else (task.duration or 0.0)
        sr, ch = (head.sample_rate, head.channels) if head else (48000, 2)  # unknown: assume the costly case
        need = estimated_peak_bytes(claimed, sr, ch)
        if need > params.max_memory_bytes:
            # refused before decoding: a crafted or huge file must not take the machine's memory
            return task.file_id, None, (f"too large for the memory budget: {claimed:.0f} s of audio needs about "
                                        f"{need / 2**30:.1f} GiB, budget {params.max_memory_bytes / 2**30:.1f} GiB")
        dec = decode(p, max_seconds=params.max_audio_seconds)
        # only the file's own header may call it truncated: an archive's metadata length (IA `length`,
        # kept as the registered duration) is often wrong, and its md5 already vouches for the bytes
        own = head.duration if head and p.suffix.lower() in EXACT_LENGTH_SUFFIXES else 0.0
        if own > 0 and dec.duration < own * (1.0 - params.truncation_tolerance) - 0.05:
            return task.file_id, None, (f"truncated: decoded {dec.duration:.2f} s of the {own:.2f} s "
                                        "its header claims")
        from tessera.indexer.features import extract

        out = extract(dec, params.segment_seconds, params.segment_min_duration)
        return task.file_id, out, None
    except IndexerError as exc:
        return task.file_id, None, exc.message
    except MemoryError:
        return task.file_id, None, "out of memory while analysing this file"
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
    import resource

    # a worker killed by SIGXCPU must not leave a core file of its whole address space behind
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # importing essentia and building its algorithms costs ~1 s of CPU: once per worker, before any
    # file, so that it does not count against the first file's CPU limit
    from tessera.indexer.features import algorithms

    algorithms()


def _process_in_worker(task: IndexTask, params: IndexParams) -> Result:
    """process_one under the CPU limit per file (pool workers only: the kernel ends the whole process)."""
    if params.max_cpu_seconds_per_file <= 0:
        return process_one(task, params)
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    used = resource.getrusage(resource.RUSAGE_SELF)
    limit = math.ceil(used.ru_utime + used.ru_stime + params.max_cpu_seconds_per_file)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (limit, hard))
    try:
        return process_one(task, params)
    finally:
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, initializer=_worker_init)


def _run_isolated(suspects: list[IndexTask], params: IndexParams) -> Iterator[Result]:
    """Run each file alone in a one-process pool: a death now names its file."""
    pool: ProcessPoolExecutor | None = None
    try:
        for t in suspects:
            pool = pool or _pool(1)
            try:
                yield pool.submit(_process_in_worker, t, params).result()
            except BrokenProcessPool:
                log.warning("worker died on file %d (%s)", t.file_id, t.path)
                yield t.file_id, None, WORKER_DIED
                pool.shutdown(wait=True)
                pool = None
    finally:
        if pool is not None:
            pool.shutdown(wait=True)


def _run_pool(tasks: list[IndexTask], params: IndexParams, workers: int) -> Iterator[Result]:
    if workers <= 1:
        _worker_init()
        for t in tasks:
            yield process_one(t, params)
        return
    todo = deque(tasks)
    while todo:
        suspects: list[IndexTask] = []
        pending: dict[Future[Result], IndexTask] = {}
        fresh = True
        with _pool(workers) as pool:
            while todo or pending:
                # bounded in-flight work keeps memory flat on huge collections
                while todo and len(pending) < workers * 4 and not suspects:
                    t = todo.popleft()
                    try:
                        pending[pool.submit(_process_in_worker, t, params)] = t
                    except BrokenProcessPool:
                        # a worker died after its last result: retry in a fresh pool, unless this one
                        # never ran anything (its workers cannot start), which would loop for ever
                        if fresh:
                            yield t.file_id, None, WORKER_DIED
                        else:
                            todo.appendleft(t)
                        break
                if not pending:
                    break
                fresh = False
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    t = pending.pop(f)
                    try:
                        yield f.result()
                    except BrokenProcessPool:
                        suspects.append(t)
                if suspects:
                    break
        # the pool is shut down: every future left has its outcome
        for f, t in pending.items():
            if f.exception() is None:
                yield f.result()
            else:
                suspects.append(t)
        if len(suspects) == 1:
            log.warning("worker died on file %d (%s)", suspects[0].file_id, suspects[0].path)
            yield suspects[0].file_id, None, WORKER_DIED
        elif suspects:
            # several files were in flight when a worker died: find which one, one at a time
            yield from _run_isolated(sorted(suspects, key=lambda t: t.file_id), params)


def link_duplicates(catalog: IndexStore, file_id: int, out: FeaturesOut, params: DuplicateParams) -> bool:
    """Link this file with every indexed copy of the same recording, whichever was indexed first."""
    if not out.fingerprint:
        return False
    cands = catalog.fingerprint_candidates(file_id, out.duration, params.duration_window(out.duration))
    same = find_duplicates(out.fingerprint, cands, params)
    return catalog.link_duplicates(file_id, same) is not None


def run_index(
    catalog: IndexStore,
    index_dir: Path,
    params: IndexParams,
    workers: int = 0,
    scheduler: Any = None,
    retry_failed: bool = False,
    rebuild: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[int, str | None], None] | None = None,
    remote: RemoteAccess | None = None,
) -> RunReport:
    """Index what is new or changed, then bring the similarity indexes in step: the new vectors are added
    to the live indexes, or everything is rebuilt when it must be (``rebuild`` asks for it).

    With a ``scheduler`` (an address or a distributed.Client) the files are analysed on its workers,
    fetched through ``remote``; an unreachable scheduler or an unreachable file raises before anything
    changes. Lapsed consents are the consent service's to purge: callers sweep before they call this.
    """
    cluster = None
    if scheduler is not None:
        from tessera.indexer.distributed import DaskRun, RemoteAccess

        cluster = DaskRun.connect(scheduler, remote or RemoteAccess())
    tasks = catalog.files_to_index(EXTRACTOR_VERSION, retry_failed=retry_failed)
    report = RunReport(total=len(tasks))
    if on_start:
        on_start(len(tasks))
    workers = workers or os.cpu_count() or 1
    results = cluster.run(tasks, params) if cluster is not None else _run_pool(
        tasks, params, min(workers, max(1, len(tasks))))
    for file_id, out, err in results:
        if out is not None:
            catalog.save_features(file_id, out)
            report.indexed += 1
            report.audio_seconds += out.duration
            if link_duplicates(catalog, file_id, out, params.duplicates):
                report.duplicates += 1
        else:
            reason = err or "unknown error"
            catalog.mark_failed(file_id, reason, EXTRACTOR_VERSION)
            report.failed += 1
            report.failures.append((file_id, reason))
        if on_result:
            on_result(file_id, err)
    report.manifest = update_indexes(catalog, index_dir, params.increment, rebuild=rebuild)
    return report


def rebuild_indexes(catalog: IndexStore, index_dir: Path) -> dict[str, Any]:
    """Rebuild every index from the vectors as they are now (under the index lock, like increments)."""
    return update_indexes(catalog, index_dir, rebuild=True)
