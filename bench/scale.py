"""Scale benchmark: index increments, similar-item and filtered search, listing pages, at N items.

    OMP_NUM_THREADS=1 python bench/scale.py 10000 100000 [--postgres] [--queries 200]

For each N: a catalogue of N synthetic indexed items is bulk-inserted through the catalogue's tables
(each item's feature vector is a real sonic-pi recording's vector plus Gaussian jitter, 15 % noise
items: ``cluster_bench.synth``, never uniform random vectors). 10 % of the items carry CC-BY-4.0 (the
rest CC0-1.0) and durations are uniform over 1-61 s, so ``licence=CC-BY-4.0`` with a 6-second duration
window keeps about 1 % of the catalogue. Then, in one run:

- baseline: a full rebuild of every space's index (what every `tessera index` did before increments);
- `tessera index` (``run_index``: features with real essentia, then the index update) after adding 5, then
  20 real audio files: wall time, and the index update's own time, beside the full rebuild;
- over real HTTP (uvicorn in a thread, one httpx client): ``/api/items/{id}/similar`` p50/p99 and
  recall@10 against exact search over the same standardised vectors, the nearest-neighbour step alone
  (``index.search``); ``/api/search`` by item with the 1 % filters: p99, recall@10 against exact filtered
  search, and whether k results came back; ``/api/items`` pages at offset 0 and at the end.

Writes bench/results/scale_<N>.md (10k, 100k …) and .json; never fails on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn
from sqlalchemy import create_engine, insert, text

sys.path.insert(0, str(Path(__file__).parent))
from cluster_bench import SAMPLES, Template, synth

from tessera.api.app import create_app
from tessera.catalog.models import AudioFile, FileFeatures, SourceRecord
from tessera.catalog.visibility import OPERATOR
from tessera.compose import build
from tessera.core.db import Database
from tessera.core.settings import Settings
from tessera.crawlers.sources.folder import add_folder
from tessera.indexer.increment import update_indexes
from tessera.indexer.run import IndexParams, run_index

RESULTS = Path(__file__).parent / "results"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BY = "CC-BY-4.0"
BY_SHARE = 0.10
DUR_LO, DUR_HI, WINDOW = 1.0, 61.0, 6.0
NEW_BATCHES = (5, 20)


def insert_catalogue(db: Database, tpl: Template, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """N indexed items in bulk; returns each item's licence flag and duration (ids 1..N)."""
    vectors, _proto = synth(tpl, n, rng)
    by = rng.random(n) < BY_SHARE
    dur = rng.uniform(DUR_LO, DUR_HI, n)
    when = datetime.now(UTC) - timedelta(days=1)
    with db.engine.begin() as conn:
        conn.execute(insert(SourceRecord.__table__), [tpl.record])
        for lo in range(0, n, 20_000):
            files, feats = [], []
            for i in range(lo, min(n, lo + 20_000)):
                src = i % len(tpl.files)
                lic = {"licence_spdx": BY, "licence_url": "https://creativecommons.org/licenses/by/4.0/"} \
                    if by[i] else {}
                files.append(dict(tpl.files[src], id=i + 1, md5=f"{i:032x}", duplicate_of=None, fingerprint=None,
                                  record_id=tpl.record["id"], duration=float(dur[i]), indexed_at=when,
                                  title=f"{tpl.files[src]['title']} #{i + 1}", **lic))
                feats.append(dict(tpl.feats[src], id=i + 1, file_id=i + 1, vector=vectors[i].tobytes()))
            conn.execute(insert(AudioFile.__table__), files)
            conn.execute(insert(FileFeatures.__table__), feats)
    if db.engine.dialect.name == "postgresql":  # ids were given explicitly: move the sequences past them
        with db.engine.begin() as conn:
            for t in ("files", "file_features"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), {n + 1})"))
    return {"by": by, "duration": dur}


def pct(a: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(a), q)) if a else float("nan")


def timed_get(c: httpx.Client, url: str) -> tuple[float, Any]:
    t0 = time.perf_counter()
    r = c.get(url)
    ms = (time.perf_counter() - t0) * 1000
    assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return ms, r.json()


def exact_top(x: np.ndarray, file_ids: np.ndarray, rows: np.ndarray, q: np.ndarray, qid: int, k: int) -> list[int]:
    """The k nearest files (best row each, the query's own file left out) among ``rows``, exactly."""
    d = np.linalg.norm(x[rows] - q, axis=1)
    out: list[int] = []
    for j in np.argsort(d, kind="stable"):
        f = int(file_ids[rows[j]])
        if f != qid and f not in out:
            out.append(f)
            if len(out) == k:
                break
    return out


def serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    while not srv.started:
        time.sleep(0.05)
    return srv, th, port


def run(n: int, tpl: Template, url: str, root: Path, queries: int) -> dict[str, Any]:
    rng = np.random.default_rng(n)
    res: dict[str, Any] = {"n": n, "db": url.split(":")[0], "load_before": os.getloadavg()[0]}
    db = Database(url)
    db.migrate()
    t0 = time.perf_counter()
    truth = insert_catalogue(db, tpl, n, rng)
    res["catalogue_insert_s"] = round(time.perf_counter() - t0, 1)
    db.dispose()
    settings = Settings(data_dir=root / "data", database_url=url, rate_limit_anonymous=10**7)
    svc = build(settings)
    store = svc.index_store

    t0 = time.perf_counter()
    full = update_indexes(store, settings.index_dir, rebuild=True)
    res["full_rebuild_s"] = round(time.perf_counter() - t0, 2)
    res["index_type"] = full["spaces"]["all"]["index_type"]
    res["build_recall_at_10"] = full["spaces"]["all"]["recall_at_10"]

    samples = sorted(SAMPLES.glob("*.flac"))
    used = 0
    res["increments"] = []
    for k in NEW_BATCHES:
        folder = root / f"new{k}"
        folder.mkdir()
        for f in samples[used:used + k]:
            shutil.copy(f, folder / f.name)
        used += k
        add_folder(svc.catalog(OPERATOR), folder, "CC0-1.0", "Sonic Pi contributors")
        t0 = time.perf_counter()
        rep = run_index(store, settings.index_dir, IndexParams(), workers=2)
        wall = time.perf_counter() - t0
        m = rep.manifest
        res["increments"].append({"files": k, "indexed": rep.indexed, "tessera_index_s": round(wall, 2),
                                  "index_update_s": m.get("seconds"), "kind": m.get("kind"),
                                  "rebuild_reason": m.get("rebuild_reason"), "rows_added": m.get("rows_added"),
                                  "timings": m.get("timings"),
                                  "spaces": {k: {f: v.get(f) for f in ("read_seconds", "add_seconds", "write_seconds")}
                                             for k, v in m.get("spaces", {}).items()}})

    app = create_app(svc)
    srv, th, port = serve(app)
    try:
        space = svc.indexes.space("all")
        x = np.asarray(space.index.reconstruct_n(0, space.index.ntotal), np.float32)
        fids = space.file_ids
        row_of = {int(f): i for i, f in enumerate(fids) if space.segment_ids[i] < 0}
        qids = [int(v) for v in rng.choice(np.arange(1, n + 1), size=queries, replace=False)]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300) as c:
            timed_get(c, f"/api/items/{qids[0]}/similar?k=10")  # warm-up: loads the indexes
            lat, rec, nn = [], [], []
            all_rows = np.arange(len(fids))
            for qid in qids:
                ms, body = timed_get(c, f"/api/items/{qid}/similar?k=10")
                lat.append(ms)
                got = [it["item"]["id"] for it in body["items"]]
                want = exact_top(x, fids, all_rows, x[row_of[qid]], qid, 10)
                rec.append(len(set(got) & set(want)) / len(want))
                t1 = time.perf_counter()
                space.index.search(x[row_of[qid]][None, :], 11)
                nn.append((time.perf_counter() - t1) * 1000)
            res["similar"] = {"p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "recall_at_10": float(np.mean(rec)),
                              "min_recall": float(np.min(rec)), "nn_p50_ms": pct(nn, 50), "nn_p99_ms": pct(nn, 99)}

            # filtered: CC-BY-4.0 and a 6-second duration window, about 1 % of the catalogue
            lic = np.zeros(fids.max() + 1, bool)
            lic[1:n + 1] = truth["by"]
            dur = np.full(fids.max() + 1, -1.0)
            dur[1:n + 1] = truth["duration"]
            lat, rec, full_k, kept = [], [], [], []
            for qid in qids[: max(20, queries // 2)]:
                lo = float(rng.uniform(DUR_LO, DUR_HI - WINDOW))
                ok = lic[fids] & (dur[fids] >= lo) & (dur[fids] <= lo + WINDOW)
                rows = np.nonzero(ok)[0]
                kept.append(len(rows) / len(fids))
                ms, body = timed_get(c, f"/api/search?item={qid}&licence={BY}&duration_min={lo:.4f}"
                                        f"&duration_max={lo + WINDOW:.4f}&limit=10")
                lat.append(ms)
                got = [it["item"]["id"] for it in body["items"]]
                want = exact_top(x, fids, rows, x[row_of[qid]], qid, 10)
                rec.append(len(set(got) & set(want)) / len(want) if want else float(not got))
                full_k.append(len(got) == len(want))
            res["filtered"] = {"p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "recall_at_10": float(np.mean(rec)),
                               "k_results_share": float(np.mean(full_k)), "kept_share": float(np.mean(kept))}

            pages: dict[str, Any] = {}
            for name, off in (("start", 0), ("deep", max(0, n - 50))):
                lat = [timed_get(c, f"/api/items?limit=50&offset={off}")[0] for _ in range(max(20, queries // 4))]
                pages[name] = {"offset": off, "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99)}
            res["items_page"] = pages
    finally:
        srv.should_exit = True
        th.join(timeout=30)
        svc.close()
    res["load_after"] = os.getloadavg()[0]
    return res


def report(r: dict[str, Any]) -> str:
    n = r["n"]
    lines = [f"# Scale benchmark at {n:,} items ({r['db']})", "",
             f"`python bench/scale.py {n}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, 2 shared cores, "
             "OMP_NUM_THREADS=1. Synthetic items: real sonic-pi feature vectors plus jitter (bench/cluster_bench.py); "
             f"catalogue bulk insert {r['catalogue_insert_s']} s. Index `all`: {r['index_type']}, recall@10 at its "
             f"build {r['build_recall_at_10']:.3f}. Load average (1 min) {r['load_before']:.1f} before, "
             f"{r['load_after']:.1f} after: other engineers' jobs share these cores.", "",
             "## `tessera index` after adding real files, beside a full rebuild (the baseline, same run)", "",
             "| what | seconds | vs full rebuild |", "|---|---|---|",
             f"| full rebuild of every space ({n:,} items, before increments every run did this) | "
             f"{r['full_rebuild_s']:.2f} | 1.00 |"]
    for inc in r["increments"]:
        lines.append(f"| `tessera index` after adding {inc['files']} files (features + index {inc['kind']}"
                     f"{', ' + inc['rebuild_reason'] if inc['rebuild_reason'] else ''}; +{inc['rows_added']} rows) | "
                     f"{inc['tessera_index_s']:.2f} | {inc['tessera_index_s'] / r['full_rebuild_s']:.2f} |")
        lines.append(f"| of which the index update | {inc['index_update_s']:.2f} | "
                     f"{inc['index_update_s'] / r['full_rebuild_s']:.3f} |")
        sp = inc.get("spaces") or {}
        parts = [f"id scan {(inc.get('timings') or {}).get('id_scan', 0):.2f} s",
                 f"new vectors {(inc.get('timings') or {}).get('new_vectors', 0):.2f} s"]
        for f in ("read_seconds", "add_seconds", "write_seconds"):
            parts.append(f"{f.split('_')[0]} {sum((v.get(f) or 0) for v in sp.values()):.2f} s")
        lines.append(f"| … update breakdown (four spaces) | {'; '.join(parts)} | |")
    s, f, p = r["similar"], r["filtered"], r["items_page"]
    lines += ["", "## Queries over HTTP, one client", "", "| what | p50 ms | p99 ms | recall@10 | notes |",
              "|---|---|---|---|---|",
              f"| `/api/items/{{id}}/similar?k=10` | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} | {s['recall_at_10']:.3f} | "
              f"worst query {s['min_recall']:.1f}; exact = L2 over the index's own standardised rows |",
              f"| nearest-neighbour step alone (`index.search`, k=11) | {s['nn_p50_ms']:.2f} | {s['nn_p99_ms']:.2f} "
              "| | in-process |",
              f"| `/api/search?item=…` + licence and duration filters | {f['p50_ms']:.1f} | {f['p99_ms']:.1f} | "
              f"{f['recall_at_10']:.3f} | filters keep {100 * f['kept_share']:.2f} % of rows; k results (or all "
              f"that exist) in {100 * f['k_results_share']:.0f} % of queries |",
              f"| `/api/items?limit=50&offset=0` | {p['start']['p50_ms']:.1f} | {p['start']['p99_ms']:.1f} | | |",
              f"| `/api/items?limit=50&offset={p['deep']['offset']}` | {p['deep']['p50_ms']:.1f} | "
              f"{p['deep']['p99_ms']:.1f} | | offset paging: the page's cost grows with its position |", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sizes", type=int, nargs="+")
    ap.add_argument("--postgres", action="store_true", help="catalogue on the local PostgreSQL (a scratch schema)")
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        tpl = Template(Path(tmp))
        print(f"template: {len(tpl.files)} real files indexed in {time.perf_counter() - t0:.0f} s", flush=True)
        for n in args.sizes:
            root = Path(tmp) / f"n{n}"
            root.mkdir()
            schema = None
            if args.postgres:
                schema = f"bench_{uuid.uuid4().hex[:10]}"
                with create_engine(PG_URL).begin() as c:
                    c.execute(text(f'CREATE SCHEMA "{schema}"'))
                url = f"{PG_URL}?options=-csearch_path%3D{schema}"
            else:
                url = f"sqlite:///{root / 'catalogue.sqlite'}"
            try:
                r = run(n, tpl, url, root, args.queries)
            finally:
                if schema:
                    with create_engine(PG_URL).begin() as c:
                        c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            label = f"{n // 1000}k" if n % 1000 == 0 else str(n)
            suffix = "_pg" if args.postgres else ""
            (RESULTS / f"scale_{label}{suffix}.json").write_text(json.dumps(r, indent=1))
            md = report(r)
            (RESULTS / f"scale_{label}{suffix}.md").write_text(md)
            print(md, flush=True)
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
