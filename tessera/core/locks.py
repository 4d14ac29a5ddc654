"""A cross-process exclusive lock on a file: index builds and purges must not interleave."""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_THREAD_LOCKS: dict[str, threading.RLock] = {}
_GUARD = threading.Lock()


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold ``path`` exclusively against other threads of this process and other processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = str(path.resolve())
    with _GUARD:
        tlock = _THREAD_LOCKS.setdefault(key, threading.RLock())
    with tlock, path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
