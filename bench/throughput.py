"""Indexer throughput: audio seconds per CPU second, ours vs essentia's MusicExtractor, and 1 vs 2 workers.

"Ours" is the whole per-file indexer work: header read + tessera.indexer.decode.decode + .features.extract
(features, quality flags, segments for recordings >= 60 s, Chromaprint fingerprint for >= 10 s), timed with
time.process_time in this single process with OMP_NUM_THREADS=1, plus wall time. The reference is
essentia.standard.MusicExtractor (default profile, it decodes the file itself) on the SAME files in the SAME
run; it refuses silent files, which are counted. Ratios are computed on the files both succeeded on.

File groups (reported separately, per-file overhead dominates on ~1 s drum hits):
  hydrogen  every Nth sample of Debian's hydrogen-drumkits (default N=4)
  sonic-pi  every sonic-pi sample (0.1-11 s: one-shots, loops, ambient)
  long      ~2-minute 44.1 kHz stereo WAVs made by concatenating shuffled sonic-pi samples (temp dir)
Then parallel scaling: tessera.indexer.run._run_pool(tasks, IndexParams(), workers) with workers=1 and 2
on the same task list (all three groups), wall time and speed-up.

Run:  OMP_NUM_THREADS=1 python bench/throughput.py [--hydrogen-every 4] [--long-files 4] [--quick]
Writes bench/results/throughput.json. Never fails on timing.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HYDROGEN = Path("/usr/share/hydrogen/data/drumkits")
SONIC_PI = Path("/usr/share/sonic-pi/samples")
RESULTS = Path(__file__).resolve().parent / "results"
AUDIO_EXT = {".wav", ".flac", ".aiff", ".aif", ".ogg", ".mp3"}


def hydrogen_files(every: int) -> list[str]:
    fs = sorted(str(p) for p in HYDROGEN.glob("*/*") if p.suffix.lower() in AUDIO_EXT)
    return fs[::every]


def sonic_pi_files() -> list[str]:
    return sorted(str(p) for p in SONIC_PI.glob("*.flac"))


def make_long_files(n: int, seconds: float, tmp: Path, seed: int = 0) -> list[str]:
    """Concatenate shuffled sonic-pi samples (100 ms gaps) into n WAVs of ~`seconds` s, 44.1 kHz stereo."""
    import soundfile as sf
    from scipy.signal import resample_poly

    clips = []
    for f in sonic_pi_files():
        x, sr = sf.read(f, dtype="float32", always_2d=True)
        if x.shape[1] == 1:
            x = np.repeat(x, 2, axis=1)
        x = x[:, :2]
        if sr != 44100:
            g = np.gcd(sr, 44100)
            x = resample_poly(x, 44100 // g, sr // g, axis=0).astype(np.float32)
        clips.append(x)
    rng = np.random.default_rng(seed)
    gap = np.zeros((4410, 2), np.float32)
    out = []
    for i in range(n):
        parts, total = [], 0
        while total < seconds * 44100:
            c = clips[int(rng.integers(len(clips)))]
            parts += [c, gap]
            total += c.shape[0] + gap.shape[0]
        y = np.concatenate(parts)[: int(seconds * 44100)]
        p = tmp / f"long_{i:02d}.wav"
        sf.write(p, y, 44100, subtype="PCM_16")
        out.append(str(p))
    return out


def time_ours(files: list[str]) -> list[dict]:
    from tessera.indexer.decode import decode, header_info
    from tessera.indexer.features import extract

    rows = []
    for f in files:
        r: dict = {"file": f}
        c0, w0 = time.process_time(), time.perf_counter()
        try:
            header_info(f)  # the indexer reads the header first (memory budget, truncation check)
            d = decode(f)
            c1 = time.process_time()
            out = extract(d)
            r.update(ok=True, duration=d.duration, segments=len(out.segments), fingerprint=out.fingerprint is not None,
                     decode_cpu=c1 - c0)
        except Exception as exc:  # counted, never fatal
            r.update(ok=False, error=f"{type(exc).__name__}: {exc}"[:200])
        r["cpu"], r["wall"] = time.process_time() - c0, time.perf_counter() - w0
        rows.append(r)
    return rows


def time_music_extractor(files: list[str], me) -> list[dict]:
    rows = []
    for f in files:
        r: dict = {"file": f}
        c0, w0 = time.process_time(), time.perf_counter()
        try:
            pool, _frames = me(f)
            r.update(ok=True, duration=float(pool["metadata.audio_properties.length"]))
        except Exception as exc:  # MusicExtractor raises RuntimeError on silent input
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            r.update(ok=False, error=msg[:200], silent="silent" in msg.lower())
        r["cpu"], r["wall"] = time.process_time() - c0, time.perf_counter() - w0
        rows.append(r)
    return rows


def summarise(group: str, ours: list[dict], ref: list[dict]) -> dict:
    both = [(o, m) for o, m in zip(ours, ref, strict=True) if o["ok"] and m["ok"]]
    audio = sum(o["duration"] for o, _ in both)
    oc = sum(o["cpu"] for o, _ in both)
    ow = sum(o["wall"] for o, _ in both)
    od = sum(o["decode_cpu"] for o, _ in both)
    mc = sum(m["cpu"] for _, m in both)
    mw = sum(m["wall"] for _, m in both)
    ours_ok = [o for o in ours if o["ok"]]
    s = {
        "group": group, "files": len(ours), "files_both_ok": len(both),
        "ours_failed": sum(not o["ok"] for o in ours),
        "ours_fail_reasons": sorted({o.get("error", "")[:80] for o in ours if not o["ok"]})[:10],
        "music_extractor_failed": sum(not m["ok"] for m in ref),
        "music_extractor_refused_silent": sum(bool(m.get("silent")) for m in ref),
        "music_extractor_fail_reasons": sorted({m.get("error", "")[:80] for m in ref if not m["ok"]})[:10],
        "audio_seconds": round(audio, 2),
        "mean_file_seconds": round(audio / max(len(both), 1), 3),
        "ours_cpu_s": round(oc, 3), "ours_wall_s": round(ow, 3),
        "ours_decode_cpu_s": round(od, 3), "ours_extract_cpu_s": round(oc - od, 3),
        "ours_ms_per_file_cpu": round(1000 * oc / max(len(both), 1), 2),
        "ours_x_realtime_cpu": round(audio / oc, 2) if oc else None,
        "ours_x_realtime_wall": round(audio / ow, 2) if ow else None,
        "me_cpu_s": round(mc, 3), "me_wall_s": round(mw, 3),
        "me_ms_per_file_cpu": round(1000 * mc / max(len(both), 1), 2),
        "me_x_realtime_cpu": round(audio / mc, 2) if mc else None,
        "me_x_realtime_wall": round(audio / mw, 2) if mw else None,
        "ratio_ours_over_me_cpu": round(mc / oc, 2) if oc else None,
        "ratio_ours_over_me_wall": round(mw / ow, 2) if ow else None,
        # all files we indexed, including those MusicExtractor refused
        "ours_all_ok_audio_seconds": round(sum(o["duration"] for o in ours_ok), 2),
        "ours_all_ok_x_realtime_cpu": round(sum(o["duration"] for o in ours_ok) / max(sum(o["cpu"] for o in ours_ok),
                                                                                       1e-9), 2),
    }
    return s


def print_table(rows: list[dict]) -> None:
    print(f"\n{'group':9s} {'files':>5s} {'audio s':>8s} {'s/file':>6s} | {'ours ms/f':>9s} {'ours xRT':>8s} "
          f"{'(wall)':>7s} {'dec%':>5s} | {'ME ms/f':>8s} {'ME xRT':>7s} | {'ratio cpu':>9s} {'wall':>5s} | "
          f"ME refused (silent)")
    for s in rows:
        dec = 100 * s["ours_decode_cpu_s"] / max(s["ours_cpu_s"], 1e-9)
        print(f"{s['group']:9s} {s['files_both_ok']:5d} {s['audio_seconds']:8.1f} {s['mean_file_seconds']:6.2f} | "
              f"{s['ours_ms_per_file_cpu']:9.1f} {s['ours_x_realtime_cpu'] or 0:8.1f} "
              f"{s['ours_x_realtime_wall'] or 0:7.1f} "
              f"{dec:5.0f} | {s['me_ms_per_file_cpu']:8.1f} {s['me_x_realtime_cpu'] or 0:7.1f} | "
              f"{s['ratio_ours_over_me_cpu'] or 0:9.2f} {s['ratio_ours_over_me_wall'] or 0:5.2f} | "
              f"{s['music_extractor_failed']} ({s['music_extractor_refused_silent']})")


def parallel(files: list[str], workers_list: tuple[int, ...]) -> dict:
    from tessera.indexer.run import IndexParams, _run_pool
    from tessera.indexer.store import IndexTask

    tasks = [IndexTask(file_id=i, path=f, md5="", size=0) for i, f in enumerate(files)]
    res: dict = {"tasks": len(tasks), "runs": {}}
    for w in workers_list:
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        c0, w0 = time.process_time(), time.perf_counter()
        results = list(_run_pool(tasks, IndexParams(), w))
        wall = time.perf_counter() - w0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        child_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        ok = [o for _, o, e in results if o is not None]
        audio = sum(o.duration for o in ok)
        res["runs"][str(w)] = {"workers": w, "wall_s": round(wall, 3),
                               "parent_cpu_s": round(time.process_time() - c0, 3),
                               "children_cpu_s": round(child_cpu, 3), "ok": len(ok),
                               "failed": len(results) - len(ok), "audio_seconds": round(audio, 1),
                               "x_realtime_wall": round(audio / wall, 1) if wall else None}
        print(f"  workers={w}: {wall:.1f} s wall, {len(ok)} ok / {len(results) - len(ok)} failed, "
              f"{audio / wall:.1f}x real time (wall); parent cpu {time.process_time() - c0:.1f} s, "
              f"children cpu {child_cpu:.1f} s", flush=True)
    if "1" in res["runs"] and "2" in res["runs"]:
        res["speedup_2_over_1"] = round(res["runs"]["1"]["wall_s"] / res["runs"]["2"]["wall_s"], 2)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hydrogen-every", type=int, default=4, help="take every Nth hydrogen sample (default 4)")
    ap.add_argument("--long-files", type=int, default=4, help="number of ~2-minute concatenated WAVs")
    ap.add_argument("--long-seconds", type=float, default=120.0)
    ap.add_argument("--quick", action="store_true", help="every 12th hydrogen sample, every 3rd sonic-pi, 2 long")
    ap.add_argument("--no-parallel", action="store_true")
    ap.add_argument("--out", default=str(RESULTS / "throughput.json"))
    args = ap.parse_args()
    if args.quick:
        args.hydrogen_every, args.long_files = 12, 2
    t_start = time.perf_counter()

    import essentia

    essentia.log.infoActive = False
    essentia.log.warningActive = False
    essentia.log.errorActive = False
    import essentia.standard as es

    from tessera.indexer.dictionary import EXTRACTOR_VERSION
    from tessera.indexer.features import algorithms

    tmp = Path(tempfile.mkdtemp(prefix="tessera-bench-tp-"))
    report: dict = {"extractor_version": EXTRACTOR_VERSION, "essentia_version": essentia.__version__,
                    "cpu_count": os.cpu_count(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                    "subsampling": {"hydrogen_every": args.hydrogen_every, "long_files": args.long_files,
                                    "long_seconds": args.long_seconds, "quick": args.quick}}
    try:
        groups = {"hydrogen": hydrogen_files(args.hydrogen_every),
                  "sonic-pi": sonic_pi_files()[:: 3 if args.quick else 1]}
        t0 = time.perf_counter()
        groups["long"] = make_long_files(args.long_files, args.long_seconds, tmp)
        print(f"made {len(groups['long'])} long WAVs of {args.long_seconds:.0f} s in {time.perf_counter() - t0:.1f} s")
        for g, fs in groups.items():
            print(f"group {g}: {len(fs)} files")

        # one-off costs, excluded from the per-file figures but reported
        c0 = time.process_time()
        algorithms()
        report["ours_init_cpu_s"] = round(time.process_time() - c0, 3)
        c0 = time.process_time()
        me = es.MusicExtractor()
        me(groups["sonic-pi"][0])  # first call loads and configures its sub-networks
        report["me_init_and_first_call_cpu_s"] = round(time.process_time() - c0, 3)
        print(f"init: ours {report['ours_init_cpu_s']} s cpu (essentia algorithm set-up, once per process); "
              f"MusicExtractor init + first call {report['me_init_and_first_call_cpu_s']} s cpu")

        summaries, per_file = [], {}
        for g, fs in groups.items():
            print(f"timing {g} ...", flush=True)
            ours = time_ours(fs)
            ref = time_music_extractor(fs, me)
            summaries.append(summarise(g, ours, ref))
            per_file[g] = {"ours": ours, "music_extractor": ref}
        # short = hydrogen + sonic-pi pooled
        allshort_o = per_file["hydrogen"]["ours"] + per_file["sonic-pi"]["ours"]
        allshort_m = per_file["hydrogen"]["music_extractor"] + per_file["sonic-pi"]["music_extractor"]
        summaries.insert(2, summarise("short", allshort_o, allshort_m))
        print("\nThroughput, single process, OMP_NUM_THREADS=1 (xRT = audio seconds per CPU second; "
              "ratio = MusicExtractor CPU / ours, >1 means we are faster; files both succeeded on):")
        print_table(summaries)
        report["groups"] = {s["group"]: s for s in summaries}
        report["per_file"] = {g: {k: [{kk: vv for kk, vv in r.items()} for r in v] for k, v in d.items()}
                              for g, d in per_file.items()}

        if not args.no_parallel:
            files = groups["hydrogen"] + groups["sonic-pi"] + groups["long"]
            print(f"\nparallel scaling: _run_pool on {len(files)} tasks (hydrogen + sonic-pi + long), "
                  f"{os.cpu_count()} cores; workers=1 runs in this (warm) process, workers=2 in forked processes",
                  flush=True)
            report["parallel"] = parallel(files, (1, 2))
            if "speedup_2_over_1" in report["parallel"]:
                print(f"  speed-up 2 vs 1 worker (wall): {report['parallel']['speedup_2_over_1']}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report["seconds"] = round(time.perf_counter() - t_start, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1, default=str))
    print(f"\nwrote {args.out} (total {report['seconds']} s)")


if __name__ == "__main__":
    main()
