"""Similarity quality on labelled real audio: precision@5/@10 per space vs an MFCC baseline and chance.

Corpus 1: Debian's ``hydrogen-drumkits`` (every kit's drumkit.xml maps instruments to sample files).
Corpus 2 (optional): the sonic-pi samples, class = file-name prefix (bd_, sn_, drum_, elec_ ...).

Rules
- Instrument names are mapped to classes with RULES below (first match wins); unmatched names are dropped.
- For each query, the candidate list excludes the query itself, every sample of the SAME instrument in the
  SAME kit (velocity layers are near-duplicates) and byte-identical files (same md5, e.g. a sample shared by
  two kits). Excluded items are removed before ranking, not just unscored.
- precision@k = share of the k nearest eligible candidates with the query's class.
- chance = per query, share of eligible candidates with the query's class; averaged over queries.
- A stricter "cross-kit" variant also excludes every candidate from the query's own kit.

Uses the project's own code: tessera.indexer.decode.decode, tessera.indexer.features.extract,
tessera.indexer.spaces.Standardiser and faiss IndexFlatL2 as tessera.indexer.similarity does.

Run:  OMP_NUM_THREADS=1 python bench/similarity_quality.py [--no-sonic-pi] [--e2e]
Writes bench/results/similarity_quality.json. Never fails on figures.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import hashlib
import json
import re
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HYDROGEN = Path("/usr/share/hydrogen/data/drumkits")
SONIC_PI = Path("/usr/share/sonic-pi/samples")
RESULTS = Path(__file__).resolve().parent / "results"
SPACE_NAMES = ("all", "timbre", "rhythm", "tonal")
KS = (5, 10)

# Instrument name -> class. Case-insensitive regex search on the <instrument><name>; first match wins.
# Order matters: "cowbell" must be seen before the cymbal rule's "bell", "bass drum" before anything else.
RULES: list[tuple[str, str | None]] = [
    (r"cowbell|agogo|bongo|cajon|clave|conga|djembe|dununba|kenkeni|sangban|maraca|tambourine|woodblock"
     r"|finger snap|waterglass", "perc"),
    (r"kick|bass ?drum|\bbd\b", "kick"),
    (r"snare", "snare"),
    (r"hi-?hat|\bhh\b|\bhat\b|\bohh\b", "hihat"),  # open / closed / pedal / semi-open: one class
    (r"\btom|floor tom", "tom"),
    (r"crash|ride|china|splash|cymbal|paiste bell", "cymbal"),
    (r"clap", "clap"),
    # everything else (stick, rim click, FX, zap, whistle, numbered or empty names, "Sample: beats_…")
    # is ambiguous or unlabelled: dropped
]

SONIC_PI_CLASS = re.compile(r"^([a-z]+)_")


def classify(name: str) -> str | None:
    n = name.lower()
    for pat, cls in RULES:
        if re.search(pat, n):
            return cls
    return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@dataclass
class Sample:
    path: str
    kit: str
    groups: set[str]  # "kit::instrument" keys this file belongs to (layers of one instrument)
    cls: str
    licence: str
    instrument: str


@dataclass
class CorpusStats:
    dropped_names: Counter = field(default_factory=Counter)
    conflicting_files: int = 0
    missing_files: int = 0


def hydrogen_corpus() -> tuple[list[Sample], CorpusStats, dict[str, str]]:
    st = CorpusStats()
    by_path: dict[str, Sample] = {}
    licences: dict[str, str] = {}
    for xml in sorted(HYDROGEN.glob("*/drumkit.xml")):
        kit_dir = xml.parent
        root = ET.parse(xml).getroot()
        kit = kit_dir.name
        lic = next((e.text or "" for e in root if _local(e.tag) == "license"), "")
        licences[kit] = lic.strip() or "(none stated)"
        for ins in root.iter():
            if _local(ins.tag) != "instrument":
                continue
            name_el = next((c for c in ins if _local(c.tag) == "name"), None)
            name = (name_el.text or "").strip() if name_el is not None else ""
            files = [e.text for e in ins.iter() if _local(e.tag) == "filename" and e.text]
            if not files:
                continue
            cls = classify(name)
            if cls is None:
                st.dropped_names[f"{kit}: {name or '(empty)'}"] += len(files)
                continue
            for fn in files:
                p = kit_dir / fn
                if not p.is_file():
                    st.missing_files += 1
                    continue
                key = str(p)
                g = f"{kit}::{name}"
                if key in by_path:
                    s = by_path[key]
                    if s.cls != cls:
                        s.cls = "__conflict__"
                    s.groups.add(g)
                else:
                    by_path[key] = Sample(key, kit, {g}, cls, licences[kit], name)
    samples = [s for s in by_path.values() if s.cls != "__conflict__"]
    st.conflicting_files = len(by_path) - len(samples)
    return samples, st, licences


def sonic_pi_corpus() -> list[Sample]:
    out = []
    for p in sorted(SONIC_PI.glob("*.flac")):
        m = SONIC_PI_CLASS.match(p.name)
        if not m:
            continue
        # no velocity layers here: each file is its own group
        out.append(Sample(str(p), "sonic-pi", {p.name}, m.group(1), "CC0-1.0/MIT (sonic-pi)", p.stem))
    return out


def md5_of(path: str) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------- features

def mfcc_baseline(mono: np.ndarray) -> np.ndarray:
    """13 essentia MFCC means + 13 stds over 2048/1024 Hann frames (essentia defaults otherwise)."""
    import essentia.standard as es

    global _MF
    try:
        w, spec, mfcc = _MF
    except NameError:
        w, spec, mfcc = es.Windowing(type="hann"), es.Spectrum(size=2048), es.MFCC(inputSize=1025)
        _MF = (w, spec, mfcc)
    x = np.ascontiguousarray(mono, dtype=np.float32)
    if x.size < 2048:
        x = np.pad(x, (0, 2048 - x.size))
    coeffs = [mfcc(spec(w(fr)))[1] for fr in es.FrameGenerator(x, frameSize=2048, hopSize=1024,
                                                                startFromZero=True)]
    c = np.asarray(coeffs, dtype=np.float64)
    return np.concatenate([c.mean(axis=0), c.std(axis=0)]).astype(np.float32)


def extract_all(samples: list[Sample]) -> tuple[list[Sample], np.ndarray, np.ndarray, list[dict], dict]:
    from tessera.indexer.decode import decode
    from tessera.indexer.features import extract

    kept, vecs, base = [], [], []
    failures: list[dict] = []
    t0 = time.perf_counter()
    for i, s in enumerate(samples):
        try:
            d = decode(s.path)
            out = extract(d, fingerprint=False)
            b = mfcc_baseline(d.mono)
        except Exception as exc:  # counted and reported, never fatal
            failures.append({"path": s.path, "class": s.cls, "error": f"{type(exc).__name__}: {exc}"[:200]})
            continue
        kept.append(s)
        vecs.append(out.vector)
        base.append(b)
        if (i + 1) % 100 == 0:
            print(f"  extracted {i + 1}/{len(samples)} ({time.perf_counter() - t0:.0f} s)", flush=True)
    fails_by_reason = Counter(f["error"].split(":")[0] + ":" + f["error"].split(":")[1][:40] if ":" in f["error"]
                              else f["error"] for f in failures)
    info = {"extracted": len(kept), "failed": len(failures), "failures": failures[:50],
            "failure_reasons": dict(fails_by_reason), "seconds": round(time.perf_counter() - t0, 1)}
    dim = len(vecs[0]) if vecs else 0
    return (kept, np.asarray(vecs, np.float32).reshape(-1, dim), np.asarray(base, np.float32).reshape(-1, 26),
            failures, info)


# ---------------------------------------------------------------------------------------------- scoring

def eligibility(samples: list[Sample], md5s: list[str], cross_kit: bool) -> np.ndarray:
    n = len(samples)
    ok = np.ones((n, n), dtype=bool)
    np.fill_diagonal(ok, False)
    for i in range(n):
        gi = samples[i].groups
        for j in range(n):
            if not ok[i, j]:
                continue
            if gi & samples[j].groups or md5s[i] == md5s[j] or (cross_kit and samples[i].kit == samples[j].kit):
                ok[i, j] = False
    return ok


def score(search_vecs: np.ndarray, samples: list[Sample], ok: np.ndarray) -> dict:
    import faiss

    n = len(samples)
    labels = np.asarray([s.cls for s in samples])
    index = faiss.IndexFlatL2(search_vecs.shape[1])
    index.add(np.ascontiguousarray(search_vecs, dtype=np.float32))
    _, order = index.search(np.ascontiguousarray(search_vecs, dtype=np.float32), n)  # full ranking
    per_q = {k: np.full(n, np.nan) for k in KS}
    chance = np.full(n, np.nan)
    for i in range(n):
        elig = ok[i]
        if not elig.any():
            continue
        ranked = [j for j in order[i] if j >= 0 and elig[j]]  # excluded items removed before ranking
        same = labels[ranked] == labels[i]
        for k in KS:
            per_q[k][i] = same[:k].mean() if len(ranked) >= 1 else np.nan
        chance[i] = (labels[elig] == labels[i]).mean()
    valid = ~np.isnan(chance)
    res = {f"p@{k}": float(np.nanmean(per_q[k])) for k in KS}
    res["chance"] = float(np.nanmean(chance))
    res["queries"] = int(valid.sum())
    res["per_class"] = {}
    for c in sorted(set(labels)):
        m = (labels == c) & valid
        if m.any():
            res["per_class"][c] = {**{f"p@{k}": float(np.nanmean(per_q[k][m])) for k in KS},
                                   "chance": float(np.nanmean(chance[m])), "n": int(m.sum())}
    return res


def zscore_l2(base: np.ndarray) -> np.ndarray:
    mu, sd = base.mean(axis=0), base.std(axis=0)
    return ((base - mu) / np.where(sd > 1e-9, sd, 1.0)).astype(np.float32)


def evaluate(name: str, samples: list[Sample], vecs: np.ndarray, base: np.ndarray, cross_kit_too: bool) -> dict:
    from tessera.indexer.spaces import Standardiser, get_space

    md5s = [md5_of(s.path) for s in samples]
    dup_md5 = sum(c - 1 for c in Counter(md5s).values() if c > 1)
    variants = {"within": False} | ({"cross_kit": True} if cross_kit_too else {})
    out: dict = {"corpus": name, "samples": len(samples), "identical_md5_files": dup_md5,
                 "class_counts": dict(sorted(Counter(s.cls for s in samples).items())), "variants": {}}
    for vname, ck in variants.items():
        ok = eligibility(samples, md5s, ck)
        rows: dict = {}
        for sp in SPACE_NAMES:
            std = Standardiser.fit(get_space(sp), vecs)
            rows[f"tessera:{sp}"] = score(std.transform(vecs), samples, ok)
        rows["baseline:mfcc13_mean_std"] = score(zscore_l2(base), samples, ok)
        out["variants"][vname] = rows
    return out


def print_eval(ev: dict) -> None:
    print(f"\n=== {ev['corpus']}: {ev['samples']} samples, classes {ev['class_counts']}, "
          f"{ev['identical_md5_files']} byte-identical duplicates (excluded as candidates) ===")
    for vname, rows in ev["variants"].items():
        desc = ("candidates exclude the query, same kit+instrument layers and identical files"
                if vname == "within" else "additionally every candidate from the query's own kit")
        print(f"\n-- variant '{vname}': {desc}")
        any_row = next(iter(rows.values()))
        print(f"{'method':30s} {'P@5':>6s} {'P@10':>6s} {'chance':>7s} {'P@5/ch':>7s} queries")
        for m, r in rows.items():
            lift = r["p@5"] / max(r["chance"], 1e-9)
            print(f"{m:30s} {r['p@5']:6.3f} {r['p@10']:6.3f} {r['chance']:7.3f} {lift:7.2f} "
                  f"{r['queries']}")
        classes = list(any_row["per_class"])
        print("per-class P@5 (chance):")
        print(f"{'method':30s} " + " ".join(f"{c[:11]:>12s}" for c in classes))
        for m, r in rows.items():
            print(f"{m:30s} " + " ".join(
                f"{r['per_class'][c]['p@5']:5.2f}({r['per_class'][c]['chance']:.2f})".rjust(12) for c in classes))
        print(f"{'n':30s} " + " ".join(f"{any_row['per_class'][c]['n']:>12d}" for c in classes))


# ---------------------------------------------------------------------------------------------- end to end

def end_to_end(samples: list[Sample], limit_queries: int = 200) -> dict:
    """tessera add + tessera index into a temp data dir, then /api/items/{id}/similar through the API."""
    import shutil
    import subprocess
    import tempfile

    from fastapi.testclient import TestClient

    from tessera.api.app import create_app
    from tessera.compose import build
    from tessera.core.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="tessera-bench-e2e-"))
    res: dict = {}
    try:
        # one folder with CC0 licence for the whole copy (licences do not matter for quality scoring)
        src = tmp / "audio"
        src.mkdir()
        name_of: dict[str, Sample] = {}
        for i, s in enumerate(samples):
            dst = src / f"{i:05d}{Path(s.path).suffix.lower()}"
            shutil.copyfile(s.path, dst)  # the folder crawler does not follow symlinks
            name_of[dst.name] = s
        env = dict(os.environ, TESSERA_DATA_DIR=str(tmp / "data"))
        t0 = time.perf_counter()
        add = subprocess.run([sys.executable, "-m", "tessera.cli", "add", str(src), "--licence", "CC0-1.0",
                              "--creator", "hydrogen-drumkits authors", "--json"],
                             env=env, capture_output=True, text=True, timeout=600)
        res["add_rc"] = add.returncode
        if add.returncode != 0:
            res["add_stderr"] = add.stderr[-2000:]
            return res
        idx = subprocess.run([sys.executable, "-m", "tessera.cli", "index", "--json"], env=env,
                             capture_output=True, text=True, timeout=1200)
        res["index_rc"] = idx.returncode
        res["add_index_seconds"] = round(time.perf_counter() - t0, 1)
        if idx.returncode != 0:
            res["index_stderr"] = idx.stderr[-2000:]
            return res
        kw = {"data_dir": tmp / "data"}
        if "rate_limit_anonymous" in Settings.model_fields:  # a benchmark is not abuse: lift the per-address limit
            kw["rate_limit_anonymous"] = 1_000_000
        client = TestClient(create_app(build(Settings(**kw))))
        items, off = [], 0
        while True:
            r = client.get("/api/items", params={"limit": 50, "offset": off})
            if r.status_code != 200:
                res["list_error"] = r.text[:500]
                return res
            body = r.json()
            items += body["items"]
            off += len(body["items"])
            if not body["items"] or off >= body["total"]:
                break
        sample_of_id: dict[int, Sample] = {}
        for it in items:
            nm = Path(str(it.get("filename") or "")).name
            if nm in name_of:
                sample_of_id[int(it["id"])] = name_of[nm]
        res["items_mapped"] = len(sample_of_id)
        if not sample_of_id:
            res["note"] = ("could not map API items back to files; keys seen: "
                           + ", ".join(sorted(items[0]) if items else []))
            return res
        rng = np.random.default_rng(0)
        ids = sorted(sample_of_id)
        qids = [ids[i] for i in rng.choice(len(ids), size=min(limit_queries, len(ids)), replace=False)]
        for sp in SPACE_NAMES:
            precs = []
            for q in qids:
                qs = sample_of_id[q]
                r = client.get(f"/api/items/{q}/similar", params={"space": sp, "k": 40})
                if r.status_code != 200:
                    res.setdefault("errors", []).append(r.text[:300])
                    break
                hits = [sample_of_id.get(int(h["item"]["id"])) for h in r.json()["items"]]
                hits = [h for h in hits if h is not None and not (h.groups & qs.groups) and h.path != qs.path]
                if hits:
                    precs.append(np.mean([h.cls == qs.cls for h in hits[:5]]))
            res[f"tessera_api:{sp}:p@5"] = float(np.mean(precs)) if precs else None
        res["queries"] = len(qids)
        res["note"] = ("API results post-filtered (same kit+instrument removed after the API's ranking, 40 fetched); "
                       "md5-identical files are deduplicated by the catalogue itself")
        return res
    except Exception as exc:
        res["error"] = f"{type(exc).__name__}: {exc}"[:500]
        return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-sonic-pi", action="store_true")
    ap.add_argument("--e2e", action="store_true", help="also run tessera add/index and query the API")
    ap.add_argument("--out", default=str(RESULTS / "similarity_quality.json"))
    args = ap.parse_args()
    t_start = time.perf_counter()
    import essentia

    essentia.log.infoActive = False
    essentia.log.warningActive = False
    from tessera.indexer.dictionary import EXTRACTOR_VERSION

    report: dict = {"extractor_version": EXTRACTOR_VERSION, "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                    "rules": [[p, c] for p, c in RULES], "corpora": {}}

    samples, st, licences = hydrogen_corpus()
    print("Hydrogen drum kits (licence per kit):")
    for k, v in licences.items():
        print(f"  {k:28s} {v[:90]}")
    print("\nClass rule table (case-insensitive regex on <instrument><name>, first match wins):")
    for p, c in RULES:
        print(f"  {c:7s} <- {p}")
    cc = Counter(s.cls for s in samples)
    print(f"\nEffect: {len(samples)} sample files kept; per class: {dict(sorted(cc.items()))}")
    print(f"  dropped (no rule matched): {sum(st.dropped_names.values())} files from "
          f"{len(st.dropped_names)} instruments, e.g. {list(st.dropped_names)[:8]}")
    print(f"  files claimed by instruments of different classes (dropped): {st.conflicting_files}; "
          f"missing files: {st.missing_files}")
    groups = Counter(g for s in samples for g in s.groups)
    print(f"  {len(groups)} (kit, instrument) groups; mean {np.mean(list(groups.values())):.1f} layers per group")
    report["hydrogen"] = {"licences": licences, "kept": len(samples), "class_counts": dict(cc),
                          "dropped_files": sum(st.dropped_names.values()),
                          "dropped_instruments": dict(st.dropped_names), "conflicting_files": st.conflicting_files,
                          "missing_files": st.missing_files, "groups": len(groups)}

    print("\nExtracting (decode + extract + MFCC baseline) ...", flush=True)
    kept, vecs, base, _fails, info = extract_all(samples)
    print(f"  {info['extracted']} extracted, {info['failed']} failed {info['failure_reasons']} "
          f"in {info['seconds']} s")
    report["hydrogen"]["extraction"] = info
    ev = evaluate("hydrogen-drumkits", kept, vecs, base, cross_kit_too=True)
    print_eval(ev)
    report["corpora"]["hydrogen"] = ev

    if not args.no_sonic_pi and SONIC_PI.is_dir():
        sp = sonic_pi_corpus()
        print(f"\nSonic Pi samples: {len(sp)} files, classes {dict(sorted(Counter(s.cls for s in sp).items()))}")
        kept2, vecs2, base2, _f2, info2 = extract_all(sp)
        print(f"  {info2['extracted']} extracted, {info2['failed']} failed {info2['failure_reasons']}")
        ev2 = evaluate("sonic-pi", kept2, vecs2, base2, cross_kit_too=False)
        ev2["extraction"] = info2
        print_eval(ev2)
        report["corpora"]["sonic_pi"] = ev2

    if args.e2e:
        print("\nEnd to end (tessera add + index, /api/items/{id}/similar) on the hydrogen corpus ...", flush=True)
        e2e = end_to_end(kept)
        print(json.dumps(e2e, indent=1)[:3000])
        report["end_to_end"] = e2e

    report["seconds"] = round(time.perf_counter() - t_start, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1, default=str))
    print(f"\nwrote {args.out} ({report['seconds']} s)")


if __name__ == "__main__":
    main()
