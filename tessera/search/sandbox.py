"""Decode and analyse untrusted uploads in separate processes with memory and CPU limits, behind an admission gate.

The decoders are C libraries (libsndfile, FFmpeg inside essentia): a crafted file may crash them
or make them allocate without bound. Each decoding slot is its own one-process pool, so a crash,
a limit hit or a timeout costs that slot's process only (never the server, never another upload)
and becomes a clear "undecodable" error.

Uploads are expensive (seconds of CPU each), so one client must not be able to starve the rest:
each client address may have a few uploads in the gate at a time (429 beyond that), at most
``max_waiting`` uploads wait for a slot, and none waits longer than ``queue_wait`` seconds (503 with
``Retry-After`` then). The decode timeout starts when a slot is taken, so queueing never counts
against a file. Before decoding, the worker refuses a file whose header declares more audio than
an upload may hold (duration, and samples × channels), so a tiny file cannot claim ten minutes of
96 kHz stereo.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import CancelledError, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np

from tessera.search.errors import SearchBusy, TooManyUploads, Undecodable, UploadTooLarge

log = logging.getLogger(__name__)

# the budget of decoded values per upload second: 48 kHz stereo (a 96 kHz stereo file may be half as long)
VALUES_PER_SECOND = 48_000 * 2


@dataclass(frozen=True)
class GateLimits:
    workers: int = 0  # decoding slots; 0 = one per core
    queue_wait: float = 10.0  # seconds an upload may wait for a slot before 503
    max_waiting: int = 0  # uploads waiting for a slot at once; 0 = four per slot
    per_client: int = 2  # uploads one client address may have waiting or decoding


def _limit(memory_bytes: int, cpu_seconds: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))


def _analyse(path: str, max_seconds: float) -> np.ndarray:
    from tessera.indexer.decode import decode, header_info
    from tessera.indexer.features import extract

    head = header_info(path)
    if head is not None:
        values = head.duration * head.sample_rate * head.channels
        if values > max_seconds * VALUES_PER_SECOND:
            raise UploadTooLarge(
                f"the file declares {head.duration:.0f} s of {head.sample_rate} Hz audio in {head.channels} "
                f"channel(s); an upload may hold at most {max_seconds:.0f} s of 48 kHz stereo or the same "
                "number of samples", limit_seconds=max_seconds)
    dec = decode(path, max_seconds=max_seconds)
    # no segments (only the whole-file vector is needed) and no fingerprint: faster
    out = extract(dec, segment_min_duration=float("inf"), fingerprint=False)
    return np.asarray(out.vector, dtype=np.float32)


class DecodeSandbox:
    """Limited decoding slots, each a one-process pool started on first use and rebuilt after a crash."""

    def __init__(self, workers: int = 0, memory_bytes: int = 3 * 1024**3, cpu_seconds: int = 300,
                 timeout: float = 120.0, limits: GateLimits | None = None) -> None:
        self.limits = limits or GateLimits(workers=workers)
        self.workers = self.limits.workers or workers or os.cpu_count() or 1
        self.max_waiting = self.limits.max_waiting or 4 * self.workers
        self.memory_bytes, self.cpu_seconds, self.timeout = memory_bytes, cpu_seconds, timeout
        self._pools: list[ProcessPoolExecutor | None] = [None] * self.workers
        self._free: queue.Queue[int] = queue.Queue()
        for slot in range(self.workers):
            self._free.put(slot)
        self._lock = threading.Lock()
        self._waiting = 0
        self._clients: dict[str, int] = {}

    # ---- admission
    @contextmanager
    def admitted(self, client: str) -> Iterator[None]:
        """Hold one of ``client``'s upload places (TooManyUploads when it has none left)."""
        with self._lock:
            if self._clients.get(client, 0) >= self.limits.per_client:
                raise TooManyUploads(
                    f"at most {self.limits.per_client} uploads per client at a time; wait for one to finish",
                    retry_after=5)
            self._clients[client] = self._clients.get(client, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._clients[client] - 1
                if left:
                    self._clients[client] = left
                else:
                    del self._clients[client]

    def _take_slot(self) -> int:
        with self._lock:
            if self._waiting >= self.max_waiting and self._free.empty():
                raise SearchBusy("upload search is busy; try again shortly",
                                 retry_after=max(1, round(self.limits.queue_wait)))
            self._waiting += 1
        try:
            return self._free.get(timeout=self.limits.queue_wait)
        except queue.Empty:
            raise SearchBusy(f"no decoder was free within {self.limits.queue_wait:.0f} s; try again shortly",
                             retry_after=max(1, round(self.limits.queue_wait))) from None
        finally:
            with self._lock:
                self._waiting -= 1

    # ---- slots
    def _pool(self, slot: int) -> ProcessPoolExecutor:
        pool = self._pools[slot]
        if pool is not None and not all(p.is_alive() for p in getattr(pool, "_processes", {}).values()):
            self._reset(slot)  # its process died while idle (killed, OOM): not this upload's fault
            pool = None
        if pool is None:
            # forkserver: never fork the threaded server itself
            pool = ProcessPoolExecutor(1, mp_context=mp.get_context("forkserver"),
                                       initializer=_limit, initargs=(self.memory_bytes, self.cpu_seconds))
            self._pools[slot] = pool
        return pool

    def _reset(self, slot: int) -> None:
        pool, self._pools[slot] = self._pools[slot], None
        if pool is None:
            return
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.kill()  # a hung decoder never returns: only killing its process frees the slot
        pool.shutdown(wait=False, cancel_futures=True)

    def vector(self, path: str, max_seconds: float, client: str | None = "local") -> np.ndarray:
        """The feature vector of an uploaded file; Undecodable (or the decoder's own error) when it cannot;
        TooManyUploads / SearchBusy when this client or the server has no room for it now.

        ``client`` None: the caller already holds an admission (the API takes it before reading the body).
        """
        with self.admitted(client) if client is not None else nullcontext():
            slot = self._take_slot()
            try:
                return self._run(slot, path, max_seconds)
            finally:
                self._free.put(slot)

    def _run(self, slot: int, path: str, max_seconds: float) -> np.ndarray:
        # the slot is ours alone, so its pool is touched by this thread only
        try:
            try:
                fut = self._pool(slot).submit(_analyse, path, max_seconds)
            except BrokenProcessPool:  # broken before this file reached it: start afresh
                self._reset(slot)
                fut = self._pool(slot).submit(_analyse, path, max_seconds)
            return fut.result(timeout=self.timeout)
        except BrokenProcessPool as exc:
            self._reset(slot)
            log.warning("an upload crashed its decoder process: %s", exc)
            raise Undecodable("the decoder crashed on this file (it is damaged or not what it claims to be)") \
                from None
        except FutureTimeout:
            self._reset(slot)
            raise Undecodable(f"decoding took longer than {self.timeout:.0f} s") from None
        except CancelledError:
            raise SearchBusy("the server is shutting down; try again shortly", retry_after=5) from None
        except MemoryError:
            raise Undecodable("decoding needed more memory than an upload may use") from None

    def processes(self) -> list[mp.process.BaseProcess]:
        """The live decoder processes (for tests and health checks)."""
        return [p for pool in self._pools if pool is not None
                for p in getattr(pool, "_processes", {}).values()]

    def close(self) -> None:
        """Stop the decoder processes; a later upload starts them again (an app may be started twice)."""
        for slot in range(self.workers):
            pool, self._pools[slot] = self._pools[slot], None
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
