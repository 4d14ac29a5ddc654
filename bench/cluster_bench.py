"""Clustering time of the full `tessera cluster` path for 10k and 100k items, seeded and unseeded.

    NUMBA_NUM_THREADS=2 OMP_NUM_THREADS=2 nohup python bench/cluster_bench.py > /tmp/cluster_bench.log 2>&1 &
    python bench/cluster_bench.py [--sizes 10000 100000] [--modes unseeded seeded]

What is timed is ``run_clustering`` (what `tessera cluster` runs): load and standardise the vectors
from a SQLite catalogue, UMAP 5-D + 2-D sharing one k-NN graph, HDBSCAN, explanations, identity
matching against a previous run, and writing members, coordinates and lineage.

Data: the sonic-pi samples are indexed with real essentia into a temp catalogue; their raw feature
vectors are the prototypes. Each of N synthetic items is a prototype plus Gaussian jitter of 25% of
each feature's spread, and 15% of items are noise (each feature drawn from a different random
item), so not every point clusters. The N items are bulk-inserted into a fresh catalogue with a
previous run (prototype groups) already saved, so identity matching has real work to do.

Modes: "unseeded" is the product default (no seed: numba parallel on every core); "seeded" is
`tessera cluster --seed S` (reproducible, single-threaded). The two paths compile different numba
kernels, so the process is warmed up on *both* paths before anything is timed, and the compile cost
is measured apart, in one fresh process per mode: import, first fit on 300 points, second fit.
Ratios are against the first size of the same mode in this run. Each run also reports its stage
times (RunReport.timings: load, k-NN, UMAP, map, HDBSCAN, explain, identity, save), its CPU time
(CPU/wall = cores it really got) and the load average around it: on a shared machine other
people's jobs can slow the parallel path several-fold. Never fails on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert, select

from tessera.catalog.models import AudioFile, FileFeatures, SourceRecord
from tessera.catalog.store import Catalog
from tessera.catalog.visibility import OPERATOR
from tessera.core.db import Database
from tessera.crawlers.sources.folder import add_folder
from tessera.indexer.dictionary import EXTRACTOR_VERSION
from tessera.indexer.run import IndexParams, run_index
from tessera.indexer.store import IndexStore
from tessera.taxonomy.store import ClusterIn, TaxonomyStore

SAMPLES = Path("/usr/share/sonic-pi/samples")
RESULTS = Path(__file__).parent / "results"
JITTER = 0.25  # share of each feature's spread
NOISE_SHARE = 0.15
MODES = {"unseeded": None, "seeded": 1}

COMPILE_PROBE = """
import sys, time, numpy as np
seed = None if sys.argv[1] == "none" else int(sys.argv[1])
t0 = time.perf_counter()
from tessera.taxonomy.cluster import ClusterParams, cluster_vectors
import umap, hdbscan
t1 = time.perf_counter()
x = np.random.default_rng(0).normal(size=(300, 112)).astype(np.float32)
cluster_vectors(x, ClusterParams(seed=seed))
t2 = time.perf_counter()
cluster_vectors(x, ClusterParams(seed=seed))
t3 = time.perf_counter()
print(f"{t1 - t0} {t2 - t1} {t3 - t2}")
"""


class Template:
    """The real, indexed sonic-pi catalogue: file rows, feature rows and raw vectors to copy from."""

    def __init__(self, tmp: Path) -> None:
        db = Database(f"sqlite:///{tmp}/template.sqlite")
        db.migrate()
        catalog = Catalog(db, OPERATOR)
        add_folder(catalog, SAMPLES, "CC0-1.0", "Sonic Pi contributors")
        run_index(IndexStore(catalog.db), tmp / "index", IndexParams(), workers=2)
        vs = IndexStore(catalog.db).vector_set(EXTRACTOR_VERSION, segments=False)
        self.vectors = vs.matrix.astype(np.float64)
        with db.session() as s:
            self.record = _row_dict(s.scalars(select(SourceRecord)).one())
            files = {f.id: _row_dict(f) for f in s.scalars(select(AudioFile))}
            feats = {f.file_id: _row_dict(f) for f in s.scalars(select(FileFeatures))}
        self.files = [files[int(i)] for i in vs.file_ids]
        self.feats = [feats[int(i)] for i in vs.file_ids]
        db.dispose()


def _row_dict(obj: Any) -> dict[str, Any]:
    return {c.name: getattr(obj, c.key) for c in obj.__table__.columns}


def synth(tpl: Template, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, prototype index or -1 for noise items)."""
    base = tpl.vectors
    proto = rng.integers(0, base.shape[0], n)
    spread = base.std(axis=0) + 1e-6
    x = base[proto] + rng.normal(0, 1, (n, base.shape[1])) * (JITTER * spread)
    noise = rng.random(n) < NOISE_SHARE
    k = int(noise.sum())
    x[noise] = base[rng.integers(0, base.shape[0], (k, base.shape[1])), np.arange(base.shape[1])]
    return x.astype(np.float32), np.where(noise, -1, proto)


def build_catalogue(url: str, tpl: Template, n: int, rng: np.random.Generator) -> Database:
    """N synthetic indexed items plus a previous run (the prototype groups) to match identities against."""
    db = Database(url)
    db.migrate()
    vectors, proto = synth(tpl, n, rng)
    files, feats = [], []
    for i in range(n):
        src = i % len(tpl.files)
        f = dict(tpl.files[src], id=i + 1, md5=f"{i:032x}", duplicate_of=None, fingerprint=None,
                 record_id=tpl.record["id"])
        files.append(f)
        feats.append(dict(tpl.feats[src], id=i + 1, file_id=i + 1, vector=vectors[i].tobytes()))
    with db.engine.begin() as conn:
        conn.execute(insert(SourceRecord.__table__), [tpl.record])
        for lo in range(0, n, 20_000):
            conn.execute(insert(AudioFile.__table__), files[lo:lo + 20_000])
            conn.execute(insert(FileFeatures.__table__), feats[lo:lo + 20_000])
    labels = np.asarray(proto, dtype=np.int64)
    ids = [int(v) for v in np.unique(labels) if v >= 0]
    TaxonomyStore(db, OPERATOR).save_run(
        "all", EXTRACTOR_VERSION, {"note": "bench: prototype groups"}, list(range(1, n + 1)), labels,
        np.where(labels >= 0, 1.0, 0.0), np.zeros((n, 2), np.float32),
        [ClusterIn(c, int(np.sum(labels == c)), 0.0, {}, []) for c in ids], {}, [], None, "bench",
    )
    return db


def timed_run(db: Database, seed: int | None) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of all this process's threads, report): CPU/wall shows how many
    cores the run really got on a shared machine."""
    from tessera.taxonomy.cluster import ClusterParams
    from tessera.taxonomy.service import run_clustering

    t, c = time.perf_counter(), time.process_time()
    rep = run_clustering(IndexStore(db), TaxonomyStore(db, OPERATOR), ClusterParams(seed=seed), created_by="bench")
    return time.perf_counter() - t, time.process_time() - c, rep


def compile_probe(seed: int | None) -> dict[str, float]:
    arg = "none" if seed is None else str(seed)
    out = subprocess.run([sys.executable, "-c", COMPILE_PROBE, arg], capture_output=True, text=True, check=True)
    imp, first, second = (float(v) for v in out.stdout.split())
    return {"import_s": round(imp, 2), "first_fit_s": round(first, 2), "second_fit_s": round(second, 2),
            "compile_s": round(imp + first - second, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    args = ap.parse_args()
    lines: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    env = {k: os.environ.get(k) for k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS")}
    say(f"cores {os.cpu_count()}, {env}, load average at start {os.getloadavg()[0]:.2f}")
    out: dict[str, Any] = {"env": env, "cores": os.cpu_count(), "jitter": JITTER, "noise_share": NOISE_SHARE,
                           "compile": {}, "runs": []}
    for mode in args.modes:
        c = compile_probe(MODES[mode])
        out["compile"][mode] = c
        say(f"compile ({mode}, fresh process): import {c['import_s']:.1f} s, first fit on 300 pts "
            f"{c['first_fit_s']:.1f} s, second {c['second_fit_s']:.2f} s -> ~{c['compile_s']:.1f} s per process")

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        t0 = time.perf_counter()
        tpl = Template(tmp)
        say(f"prototypes: {tpl.vectors.shape[0]} sonic-pi files x {tpl.vectors.shape[1]} raw features "
            f"(indexed with essentia in {time.perf_counter() - t0:.1f} s)")
        warm = build_catalogue(f"sqlite:///{tmp}/warm.sqlite", tpl, 600, rng)
        for mode in args.modes:  # the timed runs then reuse kernels compiled for their own path
            dt, _cpu, _ = timed_run(warm, MODES[mode])
            say(f"warm-up ({mode}, 600 items, includes this process's compile): {dt:.1f} s")
        warm.dispose()

        baseline: dict[str, float] = {}
        for n in args.sizes:
            t0 = time.perf_counter()
            db = build_catalogue(f"sqlite:///{tmp}/n{n}.sqlite", tpl, n, rng)
            say(f"n={n}: catalogue built in {time.perf_counter() - t0:.1f} s")
            for mode in args.modes:
                load0 = os.getloadavg()[0]
                dt, cpu, rep = timed_run(db, MODES[mode])
                load1 = os.getloadavg()[0]
                base = baseline.setdefault(mode, dt)
                say(f"n={n:>7} {mode:>8}: {dt:7.1f} s ({dt / base:.1f}x the {args.sizes[0]} {mode} run; CPU "
                    f"{cpu:.0f} s = {cpu / dt:.2f} cores; load {load0:.1f}->{load1:.1f})  clusters {rep.clusters}, "
                    f"unclustered {rep.unclustered} ({100 * rep.unclustered / n:.0f}%), lineage {rep.lineage}; "
                    f"stages {rep.timings}")
                out["runs"].append({"n": n, "mode": mode, "seed": MODES[mode], "seconds": round(dt, 2),
                                    "cpu_seconds": round(cpu, 1), "load_before": load0, "load_after": load1,
                                    "ratio": round(dt / base, 2), "clusters": rep.clusters,
                                    "unclustered": rep.unclustered, "lineage": rep.lineage,
                                    "stages_s": rep.timings})
            db.dispose()
    say(f"load average at end {os.getloadavg()[0]:.2f} (the machine is shared: figures are indicative)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cluster_bench.json").write_text(json.dumps(out, indent=2) + "\n")
    (RESULTS / "cluster_bench.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
