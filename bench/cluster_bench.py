"""Clustering time (UMAP 5-D + 2-D sharing one k-NN graph, then HDBSCAN) for 10k and 100k vectors.

    python bench/cluster_bench.py [--sizes 10000 100000] [--seeded]

Vectors look like real ones: the sonic-pi samples are indexed into a temp catalogue, standardised
for the "all" space, then resampled with jitter (5% of each feature's spread) up to N rows.
The numba compile cost is measured apart, in a fresh process: import, first fit on 300 points,
second fit on the same points. Baseline in the same run: the 10k time (ratios are against it).
Without --seeded the runs use every core (no seed: UMAP is parallel); with it, single-threaded
and reproducible, as `tessera cluster --seed` runs. Never fails on timing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tessera.catalog.db import Database
from tessera.catalog.store import Catalog
from tessera.crawlers.folder import add_folder
from tessera.indexer.dictionary import EXTRACTOR_VERSION
from tessera.indexer.run import IndexParams, run_index
from tessera.indexer.spaces import Standardiser, get_space

SAMPLES = Path("/usr/share/sonic-pi/samples")
RESULTS = Path(__file__).parent / "results"

COMPILE_PROBE = """
import time, numpy as np
t0 = time.perf_counter()
from tessera.taxonomy.cluster import ClusterParams, cluster_vectors
import umap, hdbscan
t1 = time.perf_counter()
x = np.random.default_rng(0).normal(size=(300, 120)).astype(np.float32)
cluster_vectors(x, ClusterParams(seed=1))
t2 = time.perf_counter()
cluster_vectors(x, ClusterParams(seed=1))
t3 = time.perf_counter()
print(f"{t1 - t0} {t2 - t1} {t3 - t2}")
"""


def real_vectors() -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/c.sqlite")
        db.migrate()
        catalog = Catalog(db)
        add_folder(catalog, SAMPLES, "CC0-1.0", "Sonic Pi contributors")
        run_index(catalog, Path(tmp) / "index", IndexParams(), workers=2)
        vs = catalog.vector_set(EXTRACTOR_VERSION, segments=False)
        db.dispose()
    return Standardiser.fit(get_space("all"), vs.matrix).transform(vs.matrix)


def synth(base: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    rows = base[rng.integers(0, base.shape[0], n)]
    jitter = rng.normal(0, 1, rows.shape) * (0.05 * base.std(axis=0) + 1e-3)
    return (rows + jitter).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--seeded", action="store_true", help="single-threaded, reproducible runs")
    args = ap.parse_args()

    probe = subprocess.run([sys.executable, "-c", COMPILE_PROBE], capture_output=True, text=True, check=True)
    imp, first, second = (float(v) for v in probe.stdout.split())
    print(f"numba/import: import {imp:.1f} s, first fit (300 pts, compiles) {first:.1f} s, "
          f"second fit {second:.2f} s -> compile cost ~{imp + first - second:.1f} s per fresh process")

    from tessera.taxonomy.cluster import ClusterParams, cluster_vectors

    t0 = time.perf_counter()
    base = real_vectors()
    print(f"real features: {base.shape[0]} sonic-pi files x {base.shape[1]} dims (indexed in "
          f"{time.perf_counter() - t0:.1f} s)")
    rng = np.random.default_rng(0)
    warm = synth(base, 500, rng)
    cluster_vectors(warm, ClusterParams(seed=1))  # compile in this process before timing

    out: dict[str, object] = {"compile": {"import_s": imp, "first_fit_s": first, "second_fit_s": second},
                              "seeded": args.seeded, "runs": []}
    baseline = None
    for n in args.sizes:
        x = synth(base, n, rng)
        t = time.perf_counter()
        c = cluster_vectors(x, ClusterParams(seed=1 if args.seeded else None))
        dt = time.perf_counter() - t
        baseline = baseline or dt
        print(f"n={n:>7}: {dt:7.1f} s  ({dt / baseline:.1f}x the {args.sizes[0]} baseline)  "
              f"clusters {c.n_clusters}, unclustered {c.n_noise} ({100 * c.n_noise / n:.0f}%), "
              f"min_cluster_size {c.params['min_cluster_size']}")
        out["runs"].append({"n": n, "seconds": round(dt, 2), "clusters": c.n_clusters,  # type: ignore[attr-defined]
                            "unclustered": c.n_noise})
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cluster_bench.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
