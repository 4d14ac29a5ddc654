"""Query latency through the API over real HTTP (uvicorn in a thread, httpx client): upload vs item query.

    python bench/search_latency.py [--n 100]

Builds a small real indexed catalogue from /usr/share/sonic-pi/samples in a temp dir (165 files).
Baseline in the same run: GET /health. The first upload (it starts the decode sandbox's worker
process) is reported apart. Writes bench/results/search_latency.txt; never fails on timing.
"""

from __future__ import annotations

import argparse
import io
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf
import uvicorn

from tessera.api.app import create_app
from tessera.catalog.store import ItemFilter
from tessera.compose import build
from tessera.core.settings import Settings
from tessera.crawlers.sources.folder import add_folder
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
        app = create_app(build(settings))
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
        y, sr2 = sf.read(SAMPLES / "loop_amen_full.flac")
        buf = io.BytesIO()
        sf.write(buf, np.tile(y, (int(np.ceil(30 * sr2 / len(y))), 1))[: 30 * sr2], sr2, format="FLAC")
        upload30 = buf.getvalue()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        th = threading.Thread(target=srv.run, daemon=True)
        th.start()
        while not srv.started:
            time.sleep(0.05)
        lines = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as c:
            c.get(f"/api/search?item={kick}")  # warm the index cache
            t0 = time.perf_counter()
            c.post("/api/search?limit=20", files={"file": ("k.wav", upload, "audio/wav")})
            lines.append(f"first upload (starts the sandbox worker): {(time.perf_counter() - t0) * 1000:.0f} ms")
            base = timed(lambda: c.get("/health"), args.n)
            item = timed(lambda: c.get(f"/api/search?item={kick}&limit=20"), args.n)
            item_f = timed(lambda: c.get(f"/api/search?item={kick}&limit=20&q=bd&exclude_flag=clipped"), args.n)
            similar = timed(lambda: c.get(f"/api/items/{kick}/similar?k=10"), args.n)
            up = timed(lambda: c.post("/api/search?limit=20", files={"file": ("k.wav", upload, "audio/wav")}),
                       max(10, args.n // 4))
            up30 = timed(lambda: c.post("/api/search?limit=20", files={"file": ("l.flac", upload30, "audio/flac")}),
                         max(10, args.n // 10))
        srv.should_exit = True
        th.join(timeout=10)
        for name, a in (("health (baseline)", base), ("item query", item), ("item query + filters", item_f),
                        ("GET /similar", similar), ("upload query (0.3 s kick WAV)", up),
                        ("upload query (30 s FLAC loop)", up30)):
            p50, p99 = np.percentile(a, 50), np.percentile(a, 99)
            lines.append(f"{name:32s} n={len(a):4d}  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  "
                         f"(x{p50 / np.percentile(base, 50):.1f} baseline p50)")
        text = "\n".join(lines)
        print(text)
        out = Path(__file__).parent / "results"
        out.mkdir(exist_ok=True)
        (out / "search_latency.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
