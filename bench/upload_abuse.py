"""Upload search under hostile load (issue 19, finding 5): 50 concurrent hostile uploads plus 5 ordinary ones.

A throw-away catalogue of a few Sonic Pi samples is indexed, then served by `tessera serve` (a real uvicorn
process, TESSERA_TRUSTED_PROXIES=127.0.0.1 so that X-Forwarded-For can stand for distinct client
addresses). Two hostile files, both small FLACs of a quiet tone:
  claims  599 s of 96 kHz stereo (the finding's file): more samples than an upload may declare
  heavy   290 s of 96 kHz stereo: within the budget, so it is really decoded (seconds of CPU each)
Scenarios, each 50 hostile uploads at once, and 0.5 s later 5 ordinary uploads (a drum hit, from 5 other
addresses):
  one-address   every hostile upload from one address
  many-address  the hostile uploads spread over 25 addresses
Reported per scenario: status counts of the hostile and ordinary answers, the ordinary answers' latencies
(target: every ordinary one answered within 10 s) and the number of 500s (target 0).

The same run measures a baseline: pass --baseline PATH (a checkout of an earlier commit) and its server
runs from that tree (PYTHONPATH) on the same catalogue, in the same process of this script.

Run:  python bench/upload_abuse.py [--baseline /path/to/old/checkout] [--out bench/results/upload_abuse.md]
Never fails on timing.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

SONIC_PI = Path("/usr/share/sonic-pi/samples")
HERE = Path(__file__).resolve().parent.parent


def tone_flac(path: Path, seconds: int, sr: int) -> Path:
    t = np.arange(sr) / sr
    block = (0.05 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    with sf.SoundFile(path, "w", sr, 2, format="FLAC") as fh:
        for _ in range(seconds):  # soundfile wants long files written in blocks
            fh.write(np.stack([block, block], axis=1))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tessera(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "tessera.cli", *args], env=env, check=True, capture_output=True,
                   cwd=env["PYTHONPATH"])


def start(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    # cwd: `python -m` puts the working directory first on sys.path, so it must be the tree measured
    proc = subprocess.Popen([sys.executable, "-m", "tessera.cli", "serve", "--port", str(port)], env=env,
                            cwd=env["PYTHONPATH"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start")


def upload(url: str, data: bytes, name: str, address: str) -> tuple[int, float]:
    t0 = time.perf_counter()
    try:
        r = httpx.post(url + "/api/search?limit=3", files={"file": (name, data, "audio/flac")},
                       headers={"X-Forwarded-For": address}, timeout=300)
        code = r.status_code
    except httpx.HTTPError:
        code = -1  # connection failure: as bad as a 500 for the one who waited
    return code, time.perf_counter() - t0


def scenario(url: str, hostile: bytes, addresses: int) -> dict[str, object]:
    ordinary = (SONIC_PI / "bd_haus.flac").read_bytes()
    with cf.ThreadPoolExecutor(64) as pool:
        bad = [pool.submit(upload, url, hostile, "h.flac", f"203.0.113.{i % addresses + 1}") for i in range(50)]
        time.sleep(0.5)
        good = [pool.submit(upload, url, ordinary, "kick.flac", f"198.51.100.{i + 1}") for i in range(5)]
        bad_r = [f.result() for f in bad]
        good_r = [f.result() for f in good]
    return {"hostile": dict(Counter(c for c, _ in bad_r)), "ordinary": dict(Counter(c for c, _ in good_r)),
            "ordinary_latency_s": [round(t, 2) for _, t in good_r],
            "ordinary_max_s": round(max(t for _, t in good_r), 2),
            "errors_500": sum(1 for c, _ in bad_r + good_r if (c >= 500 and c != 503) or c == -1)}


def run_tree(tree: Path, data_dir: Path, files: dict[str, bytes]) -> dict[str, dict[str, object]]:
    env = {**os.environ, "PYTHONPATH": str(tree), "TESSERA_DATA_DIR": str(data_dir),
           "TESSERA_TRUSTED_PROXIES": '["127.0.0.1"]', "TESSERA_RATE_LIMIT_ANONYMOUS": "100000",
           "OMP_NUM_THREADS": "1"}
    proc, url = start(env)
    out: dict[str, dict[str, object]] = {}
    try:
        httpx.post(url + "/api/search?limit=1", files={"file": ("w.flac", (SONIC_PI / "bd_haus.flac").read_bytes(),
                                                                   "audio/flac")}, timeout=120)  # decoders up
        for fname, data in files.items():
            for label, addrs in (("one-address", 1), ("many-address", 25)):
                out[f"{fname} / {label}"] = scenario(url, data, addrs)
                time.sleep(2)
    finally:
        proc.terminate()
        proc.wait(30)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", type=Path, help="a checkout of an earlier commit to measure in the same run")
    ap.add_argument("--out", type=Path, default=HERE / "bench" / "results" / "upload_abuse.md")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tessera-abuse-"))
    try:
        data_dir = tmp / "data"
        env = {**os.environ, "PYTHONPATH": str(HERE), "TESSERA_DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "1"}
        folder = tmp / "samples"
        folder.mkdir()
        for f in sorted(SONIC_PI.glob("bd_*.flac"))[:6] + sorted(SONIC_PI.glob("elec_*.flac"))[:6]:
            shutil.copy(f, folder / f.name)
        tessera(env, "add", str(folder), "--licence", "CC0-1.0", "--creator", "Sonic Pi")
        tessera(env, "index", "--workers", "1")
        files = {"claims": tone_flac(tmp / "claims.flac", 599, 96000).read_bytes(),
                 "heavy": tone_flac(tmp / "heavy.flac", 290, 96000).read_bytes()}
        sizes = {k: len(v) for k, v in files.items()}
        trees = {"this tree": HERE} | ({"baseline": args.baseline} if args.baseline else {})
        results = {name: run_tree(tree, data_dir, files) for name, tree in trees.items()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lines = ["# Upload search under hostile load", "",
             f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} cores "
             f"(load average {os.getloadavg()[0]:.1f}); hostile file sizes {sizes} bytes. "
             "50 hostile uploads at once, 5 ordinary ones 0.5 s later from other addresses. "
             "Target: every ordinary upload answered within 10 s, no 500.", "",
             "| tree | hostile file / addresses | hostile answers | ordinary answers | ordinary latency (s) | 5xx "
             "other than 503 |", "|---|---|---|---|---|---|"]
    for tree, res in results.items():
        for key, r in res.items():
            lines.append(f"| {tree} | {key} | {r['hostile']} | {r['ordinary']} | {r['ordinary_latency_s']} | "
                         f"{r['errors_500']} |")
    args.out.write_text("\n".join(lines) + "\n")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
