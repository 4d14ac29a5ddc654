"""Choose the aspect weights and the whitening of the `all` space on the DEVELOPMENT corpora only.

Objective: mean precision@5 over notes-fluid+timgm (leave-one-out and upload), drums-hydrogen and sonic-pi.
The held-out corpora (notes-musescore, drums-avl) are never loaded here. Coordinate search: each aspect's
weight in turn is multiplied by 0, 0.5, 1.5 or 2 and the best is kept; two passes. Prints the weights to
copy into tessera/indexer/spaces.py (ALL_ASPECTS); writes nothing. With --fusion: the weight of the
aiSFX block beside `all` (bench/similarity_quality.py FUSION_WEIGHT).

Run:  OMP_NUM_THREADS=1 python bench/tune_space.py  (after bench/similarity_quality.py has cached vectors)
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpora import DEFAULT_CACHE, all_corpora
from similarity_quality import Method, evaluate, extract_corpus, fused

from tessera.indexer.spaces import Space, Standardiser, get_space


def space_method(space: Space) -> Method:
    def run(cat: dict[str, np.ndarray], qry: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        std = Standardiser.fit(space, cat["tessera"])
        return std.transform(cat["tessera"]), std.transform(qry["tessera"])
    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--fusion", action="store_true", help="only choose the weight of the learned block in all+learned")
    args = ap.parse_args()
    dev = [c for c in all_corpora(DEFAULT_CACHE) if not c.held_out]
    data = [(c, extract_corpus(c, DEFAULT_CACHE)) for c in dev]

    def score(space: Space) -> tuple[float, list[float]]:
        parts = []
        for c, v in data:
            ev = evaluate(c, v, {"x": space_method(space)})
            parts += [rows["x"]["p@5"] for rows in ev["variants"].values()]
        return float(np.mean(parts)), parts

    if args.fusion:
        for w in (1.0, 1.5, 2.0, 3.0, 4.0):
            parts = []
            for c, v in data:
                ev = evaluate(c, v, {"x": fused(w)})
                parts += [rows["x"]["p@5"] for rows in ev["variants"].values()]
            print(f"all+learned, learned weight {w}: {np.mean(parts):.4f} {np.round(parts, 3)}", flush=True)
        return
    best = get_space("all")
    best_s, parts = score(best)
    print(f"start: {best_s:.4f} {np.round(parts, 3)}", flush=True)
    for w in (0.25, 0.5):
        s, p = score(replace(best, whiten=w))
        print(f"whiten {w}: {s:.4f} {np.round(p, 3)}", flush=True)
        if s > best_s:
            best, best_s = replace(best, whiten=w), s
    for _ in range(args.passes):
        for i, a in enumerate(best.aspects):
            for f in (0.0, 0.5, 1.5, 2.0):
                aspects = list(best.aspects)
                aspects[i] = replace(a, weight=round(a.weight * f, 3))
                cand = replace(best, aspects=tuple(aspects))
                s, p = score(cand)
                if s > best_s + 0.002:  # a gain smaller than this is noise on ~1800 queries
                    best, best_s = cand, s
                    print(f"{a.name} x{f}: {s:.4f} {np.round(p, 3)}", flush=True)
            a = best.aspects[i]
    print(f"\nbest {best_s:.4f}, whiten {best.whiten}")
    for a in best.aspects:
        print(f"    {a.name!r}: {a.weight}")


if __name__ == "__main__":
    main()
