"""The whole map: server cost of the binary points, first paint and frame times in a real Chromium.

    PYTHONPATH=. python bench/map_bench.py [--sizes 10000 100000 1000000]

For each size: a catalogue of N items and one clustering run (tests/frontend/bigmap.py: one item through
Catalog.add_file, the rest bulk copies; the run through TaxonomyStore.save_run), served by the real app.
Measured, never asserted:
- server: GET /api/clusterings/{id}/points.bin (every visible point, anonymous) and /map (the JSON head),
  wall time and bytes; a revalidation with If-None-Match; the JSON run page of 5,000 points it replaces;
- browser (headless /usr/bin/chromium, 1280x900, WebGL on whatever the machine has, here SwiftShader):
  first paint (navigation start to the first frame shown: on a large map, an even subset) and
  every point drawn (to the first frame with every point in view), then frames (GPU-synced): zooming
  into a corner step by step, drawing every point in view (as when the view rests) and as while moving
  (the level of detail: an even subset while many points are in view); panning the whole map with every
  point and with the level of detail; and nearest-point picking. The machine is shared: see the load.
Writes bench/results/map_bench.txt and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.frontend.bigmap import build, serve  # noqa: E402

RESULTS = ROOT / "bench" / "results"
CHROMIUM = "/usr/bin/chromium"

FRAMES_JS = """async ({ steps, lod }) => {
  const tm = window.tesseraMap, m = tm.map;
  const frame = () => new Promise((r) => requestAnimationFrame(r));
  const out = { zoom: [], zoomDrawn: [], pan: [], panDrawn: [] };
  m.lodEnabled = lod;
  m.fit();
  await frame();
  // zoom into the top-left corner of the map: each step a 1.25x zoom, one full draw of what is in view
  const b = m.grid.bounds;
  const [px, py] = m.toScreen(b.x0 + 0.1 * (b.x1 - b.x0), b.y1 - 0.1 * (b.y1 - b.y0));
  for (let i = 0; i < steps; i++) {
    await frame();
    const t0 = performance.now();
    m.zoomAt(1.25, px, py);
    if (!lod) m.moving = false;  // as at rest: every point in view; with lod, a frame while zooming
    m.draw();
    m.finish();
    out.zoom.push(performance.now() - t0);
    out.zoomDrawn.push(m.lastDrawn);
  }
  // pan the whole map (everything in view) frame by frame
  m.fit();
  await frame();
  for (let i = 0; i < steps; i++) {
    await frame();
    const t0 = performance.now();
    m.panBy(2, 1);
    m.draw();
    m.finish();
    out.pan.push(performance.now() - t0);
    out.panDrawn.push(m.lastDrawn);
  }
  m.lodEnabled = true;
  return out;
}"""

PICK_JS = """() => { const m = window.tesseraMap.map; m.fit(); const t0 = performance.now(); let hits = 0;
  for (let i = 0; i < 2000; i++) if (m.pick(Math.random() * m.width, Math.random() * m.height, 10) >= 0) hits++;
  return [(performance.now() - t0) / 2000 * 1000, hits]; }"""


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * len(s)))] if s else float("nan")


def timed_get(client: httpx.Client, url: str, **headers: str) -> tuple[float, httpx.Response]:
    t0 = time.perf_counter()
    r = client.get(url, headers=headers)
    return (time.perf_counter() - t0) * 1000, r


def server_side(url: str, run_id: int) -> dict[str, Any]:
    with httpx.Client(base_url=url, timeout=600) as c:
        bins = [timed_get(c, f"/api/clusterings/{run_id}/points.bin") for _ in range(3)]
        etag = bins[-1][1].headers["etag"]
        reval = timed_get(c, f"/api/clusterings/{run_id}/points.bin", **{"If-None-Match": etag})
        head = timed_get(c, f"/api/clusterings/{run_id}/map")
        page = timed_get(c, f"/api/clusterings/{run_id}")
    return {"points_bin_ms": [round(t, 1) for t, _ in bins], "points_bin_bytes": len(bins[0][1].content),
            "revalidate_ms": round(reval[0], 1), "revalidate_status": reval[1].status_code,
            "map_head_ms": round(head[0], 1), "map_head_bytes": len(head[1].content),
            "json_page_ms": round(page[0], 1), "json_page_points": len(page[1].json().get("points", [])),
            "json_pages_needed": -(-page[1].json()["points_total"] // max(1, len(page[1].json()["points"])))}


def browser_side(url: str, n: int, steps: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"])
        out: dict[str, Any] = {"first_paint_ms": []}
        ctx = b.new_context(viewport={"width": 1280, "height": 900}, base_url=url)
        for attempt in range(2):  # the second load revalidates the points (304) from the browser's cache
            page = ctx.new_page()
            page.goto("/#/map")
            page.wait_for_function(f"window.tesseraMap && window.tesseraMap.pointCount === {n} "
                                   "&& window.tesseraMap.firstPaintMs && window.tesseraMap.fullPaintMs",
                                   timeout=600_000)
            out["first_paint_ms"].append(round(page.evaluate("window.tesseraMap.firstPaintMs"), 1))
            out.setdefault("full_paint_ms", []).append(round(page.evaluate("window.tesseraMap.fullPaintMs"), 1))
            if attempt == 0:
                page.close()
        out["mode"] = page.evaluate("window.tesseraMap.mode")
        out["renderer"] = page.evaluate("""() => { const g = document.createElement('canvas').getContext('webgl');
          const d = g && g.getExtension('WEBGL_debug_renderer_info');
          return d ? g.getParameter(d.UNMASKED_RENDERER_WEBGL) : 'none'; }""")
        page.wait_for_timeout(300)
        full = page.evaluate(FRAMES_JS, {"steps": steps, "lod": False})
        page.wait_for_timeout(300)
        lod = page.evaluate(FRAMES_JS, {"steps": steps, "lod": True})
        pick = page.evaluate(PICK_JS)
        b.close()
    return {**out, "zoom_ms": full["zoom"], "zoom_drawn": full["zoomDrawn"], "pan_full_ms": full["pan"],
            "zoom_lod_ms": lod["zoom"], "zoom_lod_drawn": lod["zoomDrawn"],
            "pan_lod_ms": lod["pan"], "pan_lod_drawn": lod["panDrawn"][-1], "pick_us": round(pick[0], 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    lines = [f"Tessera whole-map benchmark, {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}, "
             f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"]
    runs = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            bm = build(Path(tmp) / "data", n)
            with serve(bm.settings) as url:
                srv = server_side(url, bm.run_id)
                web = browser_side(url, n, args.steps)
        z, pf, pl = web["zoom_ms"], web["pan_full_ms"], web["pan_lod_ms"]
        runs.append({"n": n, "build_s": round(bm.build_seconds, 1), "server": srv, "browser": web})
        lines += [
            f"n={n:,}: catalogue built in {bm.build_seconds:.1f} s",
            f"  server: points.bin {srv['points_bin_bytes'] / 1e6:.2f} MB in {srv['points_bin_ms']} ms "
            f"(cold, warm, warm); revalidation {srv['revalidate_status']} in {srv['revalidate_ms']} ms; "
            f"/map head {srv['map_head_ms']} ms; the JSON run page it replaces: {srv['json_page_ms']} ms for "
            f"{srv['json_page_points']} points ({srv['json_pages_needed']} pages for the whole map)",
            f"  browser ({web['mode']} on {web['renderer']}): first paint {web['first_paint_ms'][0]:.0f} ms, "
            f"every point drawn {web['full_paint_ms'][0]:.0f} ms (loaded again, points revalidated: "
            f"{web['first_paint_ms'][1]:.0f} / {web['full_paint_ms'][1]:.0f} ms)",
            f"  zoom into a corner, {len(z)} steps of 1.25x, every point in view drawn: median "
            f"{statistics.median(z):.1f} ms, p99 {pct(z, 0.99):.1f} ms, first {z[0]:.1f} ms "
            f"({web['zoom_drawn'][0]:,} points), last {z[-1]:.1f} ms ({web['zoom_drawn'][-1]:,} points)",
            f"  the same zoom while moving (level of detail: the subset while many points are in view): median "
            f"{statistics.median(web['zoom_lod_ms']):.1f} ms, p99 {pct(web['zoom_lod_ms'], 0.99):.1f} ms, "
            f"first {web['zoom_lod_ms'][0]:.1f} ms ({web['zoom_lod_drawn'][0]:,} points)",
            f"  pan the whole map: every point median {statistics.median(pf):.1f} ms, p99 {pct(pf, 0.99):.1f} ms; "
            f"with the level of detail while moving ({web['pan_lod_drawn']:,} points) median "
            f"{statistics.median(pl):.1f} ms, p99 {pct(pl, 0.99):.1f} ms",
            f"  hover picking: {web['pick_us']} us per query",
        ]
        print("\n".join(lines[-7:]), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "map_bench.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (RESULTS / "map_bench.json").write_text(json.dumps(runs, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
