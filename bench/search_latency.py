"""Query latency through the API (TestClient, in-process): upload query vs item query, p50/p99.

    python bench/search_latency.py [--n 100]

Builds a small real indexed catalogue from /usr/share/sonic-pi/samples in a temp dir.
Baseline in the same run: GET /health. Prints milliseconds and ratios; never fails on timing.
"""

from __future__ import annotations

import argparse
import io
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from fastapi.testclient import TestClient

from tessera.api.app import create_app
from tessera.api.routers import datasets as datasets_router
from tessera.api.routers import search as search_router
from tessera.catalog.settings import Settings
from tessera.catalog.store import ItemFilter
from tessera.crawlers.folder import add_folder
from tessera.indexer.run import IndexParams, run_index

SAMPLES = Path("/usr/share/sonic-pi/samples")


def timed(fn, n: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = fn()
        out.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.text
    return np.asarray(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "audio").mkdir()
        files = sorted(SAMPLES.glob("*.flac"))
        for f in files:
            shutil.copy(f, root / "audio" / f.name)
        settings = Settings(data_dir=root / "data", rate_limit_anonymous=10**7)  # measure search, not the limiter
        app = create_app(settings)
        if not any(getattr(r, "path", "") == "/api/search" for r in app.routes):
            app.include_router(search_router.router)
            app.include_router(datasets_router.router)
        add_folder(app.state.catalog, root / "audio", "CC0-1.0", "Sonic Pi contributors")
        t0 = time.perf_counter()
        rep = run_index(app.state.catalog, settings.index_dir, IndexParams(), workers=2)
        print(f"indexed {rep.indexed} files in {time.perf_counter() - t0:.1f} s")
        ids = {r.title: r.id for r in app.state.catalog.list_items(ItemFilter(), 500, 0)[0]}
        kick = next(i for t, i in ids.items() if t.startswith("bd_haus"))
        x, sr = sf.read(SAMPLES / "bd_haus.flac")
        buf = io.BytesIO()
        sf.write(buf, x[100:] * 0.8, sr, format="WAV")
        upload = buf.getvalue()
        with TestClient(app) as c:
            c.get(f"/api/search?item={kick}")  # warm the index cache
            base = timed(lambda: c.get("/health"), args.n)
            item = timed(lambda: c.get(f"/api/search?item={kick}&limit=20"), args.n)
            item_f = timed(lambda: c.get(f"/api/search?item={kick}&limit=20&q=bd&exclude_flag=clipped"), args.n)
            up = timed(lambda: c.post("/api/search?limit=20", files={"file": ("k.wav", upload, "audio/wav")}),
                       max(10, args.n // 4))
        for name, a in (("health (baseline)", base), ("item query", item), ("item query + filters", item_f),
                        ("upload query (0.3 s kick WAV)", up)):
            p50, p99 = np.percentile(a, 50), np.percentile(a, 99)
            print(f"{name:32s} n={len(a):4d}  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  "
                  f"(x{p50 / np.percentile(base, 50):.1f} baseline p50)")


if __name__ == "__main__":
    main()
