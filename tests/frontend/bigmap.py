"""A large map catalogue built fast: N items and one clustering run of N points, without UMAP.

One item goes through the catalogue code path (``Catalog.add_file``); the other N - 1 are bulk copies of
its stored row (own id, md5, file name, title; SQLite), as ``bench/cluster_bench.py`` builds its catalogues.
The run is saved with ``TaxonomyStore.save_run`` (the path `tessera cluster` takes): gaussian groups on a
UMAP-like layout, 15 % unclustered, and two extreme outliers that the points endpoint must clamp, not lose.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import uvicorn

from tessera.api.app import create_app
from tessera.catalog.models import AudioFile
from tessera.catalog.store import Catalog, FileIn, RecordIn
from tessera.catalog.visibility import OPERATOR
from tessera.compose import build as compose
from tessera.core.db import Database
from tessera.core.settings import Settings
from tessera.taxonomy.store import ClusterIn, TaxonomyStore

GROUPS = 24
NOISE_SHARE = 0.15
BATCH = 50_000


@dataclass
class BigMap:
    settings: Settings
    run_id: int
    n: int
    coords: np.ndarray  # (n, 2) as saved in the run, row i is item ids[i]
    ids: np.ndarray
    build_seconds: float


def title_of(item_id: int) -> str:
    return f"Synthetic sound {item_id}"


def build(data_dir: Path, n: int, seed: int = 0) -> BigMap:
    t0 = time.perf_counter()
    settings = Settings(data_dir=data_dir, rate_limit_anonymous=100_000, rate_limit_key=100_000,
                        rate_limit_audio_anonymous=100_000)
    settings.ensure_dirs()
    db = Database(settings.db_url)
    db.migrate()
    catalog = Catalog(db, OPERATOR)
    rec = catalog.upsert_record(RecordIn("folder", str(data_dir / "synthetic"), "Synthetic map catalogue",
                                         "CC0-1.0", creator="Tessera tests"))
    first = catalog.add_file(rec, FileIn("s1.wav", f"{1:032x}", 1000, duration=1.5, title=title_of(1)))[0]
    # copies of the stored row as the database holds it (values already converted), inserted in bulk
    cols = [c.name for c in AudioFile.__table__.columns]
    with db.engine.connect() as conn:
        stored = conn.exec_driver_sql(f"SELECT {', '.join(cols)} FROM files WHERE id = {int(first)}").one()
    raw = dict(zip(cols, stored, strict=True))
    changing = {"id": 0, "md5": "", "filename": "", "title": ""}
    fixed = [c for c in cols if c not in changing]
    sql = (f"INSERT INTO files ({', '.join(list(changing) + fixed)}) "
           f"VALUES ({', '.join('?' for _ in cols)})")
    rest = tuple(raw[c] for c in fixed)
    with db.engine.begin() as conn:
        for lo in range(2, n + 1, BATCH):
            conn.exec_driver_sql(sql, [(i, f"{i:032x}", f"s{i}.wav", title_of(i), *rest)
                                       for i in range(lo, min(n + 1, lo + BATCH))])
    ids = np.arange(1, n + 1, dtype=np.int64)

    rng = np.random.default_rng(seed)
    centres = rng.uniform(-8, 14, (GROUPS, 2))
    labels = rng.integers(0, GROUPS, n)
    labels[rng.random(n) < NOISE_SHARE] = -1
    coords = np.where((labels >= 0)[:, None], centres[np.maximum(labels, 0)] + rng.normal(0, 0.9, (n, 2)),
                      rng.uniform(-9, 15, (n, 2)))
    coords[n // 3] = [4e7, 3.0]  # extreme outliers: clamped onto the edge of the map, never lost
    coords[2 * n // 3] = [2.0, -9e8]
    clusters = [ClusterIn(c, int(np.sum(labels == c)), 1.5 * float(np.sum(labels == c)),
                          {"summary": f"synthetic group {c}", "features": []}, [int(ids[np.argmax(labels == c)])])
                for c in range(GROUPS) if np.any(labels == c)]
    run_id = TaxonomyStore(db, OPERATOR).save_run("all", "v-synthetic", {"note": "synthetic map"}, ids.tolist(), labels,
                                        np.where(labels >= 0, 0.9, 0.0), coords, clusters, {}, [], None, "tests")
    db.dispose()
    return BigMap(settings, run_id, n, coords, ids, time.perf_counter() - t0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """The real app on a free local port, in a thread; yields its base URL."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(compose(settings)), host="127.0.0.1", port=port,
                                           log_level="warning"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    for _ in range(400):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "the API server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        th.join(timeout=10)
