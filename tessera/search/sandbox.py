"""Decode and analyse untrusted uploads in a separate process with memory and CPU limits.

The decoders are C libraries (libsndfile, FFmpeg inside essentia): a crafted file may crash them
or make them allocate without bound. In a worker process that costs one worker, not the server:
a crash, a limit hit or a timeout becomes a clear "undecodable" error and the pool is rebuilt.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from tessera.search.errors import Undecodable

log = logging.getLogger(__name__)


def _limit(memory_bytes: int, cpu_seconds: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))


def _analyse(path: str, max_seconds: float) -> np.ndarray:
    from tessera.indexer.decode import decode
    from tessera.indexer.features import extract

    dec = decode(path, max_seconds=max_seconds)
    # no segments (only the whole-file vector is needed) and no fingerprint: faster
    out = extract(dec, segment_min_duration=float("inf"), fingerprint=False)
    return np.asarray(out.vector, dtype=np.float32)


class DecodeSandbox:
    """A small pool of limited worker processes, started on first use and rebuilt after a crash."""

    def __init__(self, workers: int = 1, memory_bytes: int = 3 * 1024**3, cpu_seconds: int = 300,
                 timeout: float = 120.0) -> None:
        self.workers, self.memory_bytes, self.cpu_seconds, self.timeout = workers, memory_bytes, cpu_seconds, timeout
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _get(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # forkserver: never fork the threaded server itself
                self._pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("forkserver"),
                                                 initializer=_limit, initargs=(self.memory_bytes, self.cpu_seconds))
            return self._pool

    def _reset(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.kill()  # a hung decoder never returns: only killing its process frees the slot
        pool.shutdown(wait=False, cancel_futures=True)

    def vector(self, path: str, max_seconds: float) -> np.ndarray:
        """The feature vector of an uploaded file; Undecodable (or the decoder's own error) when it cannot."""
        pool = self._get()
        try:
            fut = pool.submit(_analyse, path, max_seconds)
            return fut.result(timeout=self.timeout)
        except BrokenProcessPool as exc:
            self._reset(pool)
            log.warning("an upload crashed its decoder process: %s", exc)
            raise Undecodable("the decoder crashed on this file (it is damaged or not what it claims to be)") \
                from None
        except FutureTimeout:
            self._reset(pool)
            raise Undecodable(f"decoding took longer than {self.timeout:.0f} s") from None
        except MemoryError:
            raise Undecodable("decoding needed more memory than an upload may use") from None

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
