"""Similarity quality on labelled real audio: precision@5/@10 per space, with bootstrap CIs, beside baselines.

Corpora come from bench/corpora.py (Debian packages only). Development corpora: notes of two GM soundfonts
(fluid + timgm), hydrogen drum kits, the sonic-pi sample pack. HELD OUT (never used to choose a feature, a
weight or a space): notes of a third soundfont (MuseScore General Lite) and the AVL drum kits.

Protocol
- Leave-one-out: every item queries all others. Candidates exclude the query's own group (the same GM
  program of the same soundfont at other pitches; the layers of one kit piece; the file itself), removed
  before ranking. precision@k = share of the k nearest eligible candidates with the query's class.
- Each space's transform is fitted WITHOUT labels on the corpus it searches (the catalogue), as
  tessera.indexer.similarity.build does on a real catalogue.
- "upload" variant (notes only): the catalogue is one soundfont, the queries are the other soundfont's
  notes (an uploaded recording of an unseen timbre source); the transform is fitted on the catalogue only.
  Held out: notes-musescore-vs-dev queries the MuseScore notes against the two development soundfonts and
  the other way round (its leave-one-out row is the three soundfonts together).
- 95% CIs: bootstrap over queries (1000 resamples).
- Baselines computed in the same run on the same files: MFCC (13 essentia MFCC, mean and std: 26-d) and a
  compact essentia set (45 frame-level essentia descriptors, mean and std: 90-d), both z-scored.

Run:  OMP_NUM_THREADS=1 python bench/similarity_quality.py [--only CORPUS ...] [--no-cache]
Writes bench/results/similarity_quality.md and .json. Never fails on figures.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import hashlib
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpora import DEFAULT_CACHE, Corpus, Item, all_corpora

RESULTS = Path(__file__).resolve().parent / "results"
KS = (5, 10)
REPO = Path(__file__).resolve().parent.parent

# a method maps (catalogue vectors, query vectors) -> (catalogue search vectors, query search vectors)
Method = Callable[[dict[str, np.ndarray], dict[str, np.ndarray]], tuple[np.ndarray, np.ndarray]]


# ---------------------------------------------------------------------------------------------- features

def _source_hash() -> str:
    """Feature caches are valid for one state of the extractor's code."""
    h = hashlib.sha256()
    for p in sorted((REPO / "tessera" / "indexer").glob("*.py")):
        if p.name.startswith(("features", "dictionary", "timbre", "decode", "loudness", "learned")):
            h.update(p.read_bytes())
    return h.hexdigest()[:12]


_MF: tuple | None = None


def baselines(mono: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(MFCC 26-d, compact essentia 90-d): essentia standard algorithms frame by frame, mean and std."""
    import essentia.standard as es

    global _MF
    if _MF is None:
        _MF = (es.Windowing(type="hann"), es.Spectrum(size=2048), es.MFCC(inputSize=1025),
               es.CentralMoments(range=22050), es.DistributionShape(), es.Centroid(range=22050),
               es.Flatness(), es.RollOff(), es.Flux(), es.HFC(), es.ZeroCrossingRate(), es.RMS(),
               es.SpectralComplexity(), es.PitchSalience(), es.SpectralContrast(frameSize=2048),
               es.EnergyBandRatio(startFrequency=20, stopFrequency=150),
               es.EnergyBandRatio(startFrequency=150, stopFrequency=800),
               es.EnergyBandRatio(startFrequency=800, stopFrequency=4000),
               es.EnergyBandRatio(startFrequency=4000, stopFrequency=20000),
               es.Entropy(), es.Decrease(range=22050), es.StrongPeak(), es.Energy())
    (win, spec, mfcc, cmom, dshape, cent, flat, roll, flux, hfc, zcr, rms, cplx, sal, contrast,
     e1, e2, e3, e4, ent, decr, strong, energy) = _MF
    x = np.ascontiguousarray(mono, dtype=np.float32)
    if x.size < 2048:
        x = np.pad(x, (0, 2048 - x.size))
    mf, comp = [], []
    for fr in es.FrameGenerator(x, frameSize=2048, hopSize=1024, startFromZero=True):
        s = spec(win(fr))
        c = mfcc(s)[1]
        mf.append(c)
        if float(energy(fr)) < 1e-9:
            continue
        sp, sk, ku = dshape(cmom(s))
        con, val = contrast(s)
        p = s / (s.sum() + 1e-12)
        comp.append(np.concatenate([c, [cent(s), sp, sk, ku, flat(s + 1e-12), roll(s), flux(s), hfc(s), zcr(fr),
                                        rms(fr), cplx(s), sal(s), e1(s), e2(s), e3(s), e4(s), ent(p + 1e-12),
                                        decr(s), strong(s + 1e-12)], con, val]))
    m = np.asarray(mf, np.float64)
    c = np.asarray(comp, np.float64) if comp else np.zeros((1, 45))
    return (np.concatenate([m.mean(0), m.std(0)]).astype(np.float32),
            np.nan_to_num(np.concatenate([c.mean(0), c.std(0)])).astype(np.float32))


def extract_corpus(c: Corpus, cache: Path | None) -> dict[str, np.ndarray]:
    """Per item: the tessera vector, the learned embedding if installed, and both baselines.

    Cached apart: the baselines depend on the files only, the tessera vectors also on the extractor's code.
    """
    from tessera.indexer.decode import decode
    from tessera.indexer.features import extract

    files = hashlib.sha256("\n".join(i.path for i in c.items).encode()).hexdigest()[:16]
    code = _source_hash()
    cb = cache / f"baselines-{c.name}-{files}.npz" if cache else None
    ct = cache / f"tessera-{c.name}-{files}-{code}.npz" if cache else None
    arrs: dict[str, np.ndarray] = {}
    if cb and cb.exists():
        arrs.update(np.load(cb))
    if ct and ct.exists():
        arrs.update(np.load(ct))
    need_base, need_ours = "mfcc" not in arrs, "tessera" not in arrs
    if need_base or need_ours:
        out: dict[str, list[np.ndarray]] = {"tessera": [], "mfcc": [], "compact": []}
        t0 = time.perf_counter()
        for i, it in enumerate(c.items):
            d = decode(it.path)
            if need_ours:
                out["tessera"].append(extract(d, fingerprint=False).vector)
            if need_base:
                m, comp = baselines(d.mono)
                out["mfcc"].append(m)
                out["compact"].append(comp)
            if (i + 1) % 250 == 0:
                print(f"  {c.name}: {i + 1}/{len(c.items)} ({time.perf_counter() - t0:.0f} s)", flush=True)
        new = {k: np.vstack(v).astype(np.float32) for k, v in out.items() if v}
        if need_ours:
            learned = learned_vectors(c.items)
            if learned is not None:
                new["learned"] = learned
        arrs.update(new)
        if cb and need_base:
            cb.parent.mkdir(parents=True, exist_ok=True)
            np.savez(cb, mfcc=arrs["mfcc"], compact=arrs["compact"])
        if ct and need_ours:
            ct.parent.mkdir(parents=True, exist_ok=True)
            np.savez(ct, **{k: v for k, v in arrs.items() if k in ("tessera", "learned")})
    return arrs


def learned_vectors(items: list[Item]) -> np.ndarray | None:
    try:
        from tessera.indexer.learned import available, embed_file
    except ImportError:
        return None
    if not available():
        return None
    return np.vstack([embed_file(it.path) for it in items]).astype(np.float32)


# ---------------------------------------------------------------------------------------------- methods

def zscore() -> Callable[[str], Method]:
    def make(key: str) -> Method:
        def run(cat: dict[str, np.ndarray], qry: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
            mu, sd = cat[key].mean(0), cat[key].std(0)
            sd = np.where(sd > 1e-9, sd, 1.0)
            return (cat[key] - mu) / sd, (qry[key] - mu) / sd
        return run
    return make


def tessera_space(space: str) -> Method:
    def run(cat: dict[str, np.ndarray], qry: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        from tessera.indexer.spaces import Standardiser, get_space

        std = Standardiser.fit(get_space(space), cat["tessera"])
        return std.transform(cat["tessera"]), std.transform(qry["tessera"])
    return run


def fused(weight: float | None = None) -> Method:
    """`all+learned` as tessera.indexer.learned builds it: `all` beside the embedding weighted as one aspect."""
    base = tessera_space("all")

    def run(cat: dict[str, np.ndarray], qry: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        from tessera.indexer.learned import FUSION_WEIGHT, LearnedTransform, fuse

        a, b = base(cat, qry)
        lt = LearnedTransform.fit(cat["learned"], FUSION_WEIGHT if weight is None else weight)
        return fuse(a, lt.transform(cat["learned"])), fuse(b, lt.transform(qry["learned"]))
    return run


def methods(has_learned: bool) -> dict[str, Method]:
    from tessera.indexer.spaces import SPACES

    out: dict[str, Method] = {f"tessera:{s}": tessera_space(s) for s in SPACES}
    if has_learned:
        out["learned (aisfx)"] = zscore()("learned")
        out["tessera:all+learned"] = fused()
    out["baseline:compact_essentia_90"] = zscore()("compact")
    out["baseline:mfcc_26"] = zscore()("mfcc")
    return out


# ---------------------------------------------------------------------------------------------- scoring

def ranked_precision(cat_v: np.ndarray, q_v: np.ndarray, cat_items: list[Item], q_items: list[Item],
                     same_pool: bool) -> dict[int, np.ndarray]:
    """Per query precision@k over eligible candidates (own group excluded before ranking)."""
    import faiss

    index = faiss.IndexFlatL2(cat_v.shape[1])
    index.add(np.ascontiguousarray(cat_v, dtype=np.float32))
    groups = np.asarray([i.group for i in cat_items])
    labels = np.asarray([i.cls for i in cat_items])
    fetch = min(len(cat_items), 200)
    _, order = index.search(np.ascontiguousarray(q_v, dtype=np.float32), fetch)
    out = {k: np.full(len(q_items), np.nan) for k in KS}
    for qi, it in enumerate(q_items):
        cand = [j for j in order[qi] if j >= 0 and groups[j] != it.group and not (same_pool and j == qi)]
        if len(cand) < max(KS):  # a big own group pushed everything out of the first fetch: rank all
            _, full = index.search(np.ascontiguousarray(q_v[qi: qi + 1], dtype=np.float32), len(cat_items))
            cand = [j for j in full[0] if j >= 0 and groups[j] != it.group and not (same_pool and j == qi)]
        same = labels[cand] == it.cls
        for k in KS:
            out[k][qi] = same[:k].mean() if cand else np.nan
    return out


def summarise(per_q: dict[int, np.ndarray], q_items: list[Item], seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    res: dict = {}
    for k in KS:
        v = per_q[k][~np.isnan(per_q[k])]
        boots = rng.choice(v, size=(1000, v.size), replace=True).mean(axis=1)
        res[f"p@{k}"] = float(v.mean())
        res[f"p@{k}_ci"] = [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))]
    labels = np.asarray([i.cls for i in q_items])
    res["per_class"] = {c: float(np.nanmean(per_q[5][labels == c])) for c in sorted(set(labels))}
    res["queries"] = int((~np.isnan(per_q[5])).sum())
    return res


def evaluate(c: Corpus, vecs: dict[str, np.ndarray], meths: dict[str, Method]) -> dict:
    out: dict = {"corpus": c.name, "kind": c.kind, "held_out": c.held_out, "origin": c.origin,
                 "items": len(c.items), "classes": dict(sorted(Counter(i.cls for i in c.items).items())),
                 "variants": {}}
    variants = ["loo"]
    sources = sorted({i.source for i in c.items})
    if c.kind == "notes" and len(sources) == 2:
        variants.append("upload")
    for var in variants:
        rows = {}
        for name, m in meths.items():
            if var == "loo":
                a, b = m(vecs, vecs)
                pq = ranked_precision(a, b, c.items, c.items, same_pool=True)
                rows[name] = summarise(pq, c.items)
                continue
            # upload: catalogue = one soundfont, queries = the other; both directions pooled
            parts: dict[int, list[np.ndarray]] = {k: [] for k in KS}
            q_all: list[Item] = []
            for s in sources:
                ci = np.asarray([i.source != s for i in c.items])
                cat = {k: v[ci] for k, v in vecs.items()}
                qry = {k: v[~ci] for k, v in vecs.items()}
                a, b = m(cat, qry)
                cat_items = [i for i, keep in zip(c.items, ci, strict=True) if keep]
                q_items = [i for i, keep in zip(c.items, ci, strict=True) if not keep]
                pq = ranked_precision(a, b, cat_items, q_items, same_pool=False)
                for k in KS:
                    parts[k].append(pq[k])
                q_all += q_items
            rows[name] = summarise({k: np.concatenate(v) for k, v in parts.items()}, q_all)
        out["variants"][var] = rows
    return out


# ---------------------------------------------------------------------------------------------- report

def markdown(report: dict) -> str:
    lines = ["# Similarity quality", "",
             f"Extractor `{report['extractor_version']}`; generated by `bench/similarity_quality.py` "
             f"({report['date']}, {report['seconds']} s). Precision@k, leave-one-out, the query's own group "
             "(same program and soundfont / same kit piece) excluded; [95% bootstrap CI]. "
             "**Held-out corpora were never used to choose features, weights or spaces.**", ""]
    for held in (False, True):
        lines += [f"## {'Held-out' if held else 'Development'} corpora", ""]
        for ev in report["corpora"].values():
            if ev["held_out"] != held:
                continue
            for var, rows in ev["variants"].items():
                title = ("leave-one-out" if var == "loo" else
                         "upload: queries from one soundfont, neighbours from the other")
                lines += [f"### {ev['corpus']} — {title}", "",
                          f"{ev['items']} items ({ev['origin']}); classes: "
                          + ", ".join(f"{k} {v}" for k, v in ev["classes"].items()), "",
                          "| method | P@5 | P@10 |", "|---|---|---|"]
                for name, r in rows.items():
                    lines.append(f"| {name} | {r['p@5']:.3f} [{r['p@5_ci'][0]:.2f}–{r['p@5_ci'][1]:.2f}] | "
                                 f"{r['p@10']:.3f} [{r['p@10_ci'][0]:.2f}–{r['p@10_ci'][1]:.2f}] |")
                classes = list(next(iter(rows.values()))["per_class"])
                lines += ["", "Per-class P@5:", "", "| method | " + " | ".join(classes) + " |",
                          "|---|" + "---|" * len(classes)]
                for name, r in rows.items():
                    lines.append(f"| {name} | " + " | ".join(f"{r['per_class'][c]:.2f}" for c in classes) + " |")
                lines.append("")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="corpus names to run (default: all)")
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("--cache", default=str(DEFAULT_CACHE))
    ap.add_argument("--out", default=str(RESULTS / "similarity_quality"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    import essentia

    essentia.log.infoActive = False
    essentia.log.warningActive = False
    from tessera.indexer.dictionary import EXTRACTOR_VERSION

    cache = None if args.no_cache else Path(args.cache)
    report: dict = {"extractor_version": EXTRACTOR_VERSION, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "corpora": {}}
    done: dict[str, dict[str, np.ndarray]] = {}
    for c in all_corpora(Path(args.cache)):
        if args.only and c.name not in args.only:
            continue
        print(f"{c.name}: {len(c.items)} items", flush=True)
        if c.parts and all(p in done for p in c.parts):
            vecs = {k: np.vstack([done[p][k] for p in c.parts]) for k in done[c.parts[0]]}
        else:
            vecs = extract_corpus(c, cache)
        done[c.name] = vecs
        ev = evaluate(c, vecs, methods("learned" in vecs))
        report["corpora"][c.name] = ev
        for var, rows in ev["variants"].items():
            for name, r in rows.items():
                print(f"  {var:6s} {name:32s} P@5 {r['p@5']:.3f} [{r['p@5_ci'][0]:.2f}-{r['p@5_ci'][1]:.2f}]  "
                      f"P@10 {r['p@10']:.3f}", flush=True)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + ".json").write_text(json.dumps(report, indent=1))
    Path(args.out + ".md").write_text(markdown(report))
    print(f"wrote {args.out}.md/.json ({report['seconds']} s)")


if __name__ == "__main__":
    main()
