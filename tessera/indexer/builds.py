"""Index builds on disk: each build is a directory written aside and switched in atomically.

Layout under ``index_dir``::

    builds/<build-id>/<space>.faiss, <space>.rows.npz, manifest.json
    builds/.tmp-<build-id>-<pid>/  # a build being written; never read by the serving side
    CURRENT                        # the build id in use, replaced atomically

A run that is killed or fails leaves at most a ``.tmp-`` directory behind: CURRENT still names the
previous, complete build, so it keeps serving. The next writer (under the index lock) deletes leftovers.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROW_FIELDS = ("file_ids", "segment_ids", "starts", "ends")
DEAD = -1  # file id of a row withdrawn from an index that cannot delete (HNSW): never a real file


@dataclass
class Rows:
    """What each index row is: faiss labels are row numbers into these arrays."""

    file_ids: np.ndarray
    segment_ids: np.ndarray
    starts: np.ndarray
    ends: np.ndarray

    def take(self, keep: np.ndarray) -> Rows:
        return Rows(self.file_ids[keep], self.segment_ids[keep], self.starts[keep], self.ends[keep])

    def extend(self, other: Rows) -> Rows:
        return Rows(*(np.concatenate([getattr(self, f), getattr(other, f)]) for f in ROW_FIELDS))


def new_build_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def current_build(index_dir: Path) -> str | None:
    try:
        return (index_dir / "CURRENT").read_text().strip() or None
    except FileNotFoundError:
        return None


def read_manifest(index_dir: Path, build_id: str) -> dict[str, Any]:
    return dict(json.loads((index_dir / "builds" / build_id / "manifest.json").read_text()))


def read_rows(index_dir: Path, build_id: str, name: str) -> Rows:
    with np.load(index_dir / "builds" / build_id / f"{name}.rows.npz") as z:
        return Rows(*(np.asarray(z[f]) for f in ROW_FIELDS))


def read_space(index_dir: Path, build_id: str, name: str) -> tuple[Any, Rows]:
    import faiss

    rows = read_rows(index_dir, build_id, name)
    return faiss.read_index(str(index_dir / "builds" / build_id / f"{name}.faiss")), rows


def clean_leftovers(index_dir: Path) -> None:
    """Delete what killed runs left (call under the index lock: no other writer is then at work)."""
    builds = index_dir / "builds"
    if builds.is_dir():
        for p in builds.iterdir():
            if p.name.startswith(".tmp-"):
                shutil.rmtree(p, ignore_errors=True)
    for p in index_dir.glob(".CURRENT.*"):
        p.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BuildWriter:
    """Files of one build, written in a temporary directory until ``commit`` switches CURRENT to it."""

    def __init__(self, index_dir: Path, build_id: str) -> None:
        self.index_dir = index_dir
        self.build_id = build_id
        self.tmp = index_dir / "builds" / f".tmp-{build_id}-{os.getpid()}"
        self.tmp.mkdir(parents=True)

    def write_space(self, name: str, index: Any, rows: Rows) -> None:
        import faiss

        faiss.write_index(index, str(self.tmp / f"{name}.faiss"))
        np.savez(self.tmp / f"{name}.rows.npz", file_ids=rows.file_ids, segment_ids=rows.segment_ids,
                 starts=rows.starts, ends=rows.ends)

    def commit(self, manifest: dict[str, Any]) -> None:
        (self.tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        # the files reach the disk before the directory is named and CURRENT points at it, so a crash
        # of the machine never leaves CURRENT naming a build with missing bytes
        for p in self.tmp.iterdir():
            _fsync(p)
        final = self.index_dir / "builds" / self.build_id
        os.replace(self.tmp, final)
        cur_tmp = self.index_dir / f".CURRENT.{os.getpid()}"
        cur_tmp.write_text(self.build_id)
        _fsync(cur_tmp)
        os.replace(cur_tmp, self.index_dir / "CURRENT")
        _prune(self.index_dir / "builds", keep={self.build_id})

    def abandon(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


@contextmanager
def writing(index_dir: Path, build_id: str | None = None) -> Iterator[BuildWriter]:
    """A build writer whose temporary directory is removed unless it was committed."""
    w = BuildWriter(index_dir, build_id or new_build_id())
    try:
        yield w
    finally:
        if w.tmp.exists():
            w.abandon()


def _prune(builds: Path, keep: set[str], keep_last: int = 2) -> None:
    # the previous build stays: a server that read CURRENT just before the switch can still load it
    done = sorted(p for p in builds.iterdir() if p.is_dir() and not p.name.startswith(".tmp-"))
    for p in done[:-keep_last]:
        if p.name not in keep:
            shutil.rmtree(p, ignore_errors=True)
