"""How long the map takes to draw 100,000 points while panning (measured, written down, never asserted).

A benchmark, so behind the slow marker; it prints its figures and writes them to the file that
``TESSERA_MAP_FRAME_REPORT`` names (``bench/map_frame_time.sh`` sets bench/results/map_frame_time.txt), so a
test run leaves the tree as it found it.
"""

from __future__ import annotations

import os
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.frontend.conftest import Web, open_route

POINTS = 100_000
FRAMES = 120
REPORT = os.environ.get("TESSERA_MAP_FRAME_REPORT")


@pytest.mark.slow
def test_map_frame_time_with_100k_points(page: Any, web: Web) -> None:
    open_route(page, "#/map")
    page.wait_for_function("window.tesseraMap && window.tesseraMap.pointCount > 0")
    n = page.evaluate(f"window.tesseraMap.setSynthetic({POINTS})")
    assert n == POINTS
    page.wait_for_timeout(300)
    res = page.evaluate(f"window.tesseraMap.bench({FRAMES}, {{ lod: false }})")
    page.wait_for_timeout(300)
    lod = page.evaluate(f"window.tesseraMap.bench({FRAMES}, {{ lod: true }})")
    # picking: nearest point under the pointer through the CPU grid, 2,000 random queries
    pick_ms = page.evaluate("""() => { const m = window.tesseraMap.map; const t0 = performance.now();
      let hits = 0;
      for (let i = 0; i < 2000; i++) if (m.pick(Math.random() * m.width, Math.random() * m.height, 10) >= 0) hits++;
      return [(performance.now() - t0) / 2000, hits]; }""")
    renderer = page.evaluate("""() => { const g = document.createElement('canvas').getContext('webgl');
      const d = g && g.getExtension('WEBGL_debug_renderer_info');
      return d ? g.getParameter(d.UNMASKED_RENDERER_WEBGL) : (g ? g.getParameter(g.RENDERER) : 'none'); }""")
    intervals = sorted(res["intervals"][1:])  # the first interval includes setup
    draws = sorted(res["draws"])
    lod_intervals = sorted(lod["intervals"][1:])

    def pct(xs: list[float], p: float) -> float:
        return xs[min(len(xs) - 1, int(p * len(xs)))]

    lines = [
        f"Tessera map frame time, {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"points: {res['points']:,} (synthetic, 12 gaussian clusters + uniform noise), renderer: {res['mode']}",
        f"browser: headless Chromium (/usr/bin/chromium), WebGL on {renderer}, viewport 1280x900",
        f"method: {FRAMES} requestAnimationFrame callbacks, each panning the view by (2, 1) px and redrawing "
        "(one gl.drawArrays(POINTS) call), then reading back one pixel so the GPU has finished",
        f"frame interval (rAF to rAF): median {statistics.median(intervals):.2f} ms, "
        f"p95 {pct(intervals, 0.95):.2f} ms, mean {statistics.fmean(intervals):.2f} ms",
        f"draw time (uniforms + draw call + GPU finish): median {statistics.median(draws):.2f} ms, "
        f"p95 {pct(draws, 0.95):.2f} ms, max {draws[-1]:.2f} ms",
        f"while moving, with the adaptive level of detail (every point at rest; an evenly strided subset of "
        f"{lod['lodPoints']:,} points while the view moves, once full frames prove slower than ~30 fps; "
        f"{lod['lodFrames']} of {FRAMES} frames used it): "
        f"frame interval median {statistics.median(lod_intervals):.2f} ms, p95 {pct(lod_intervals, 0.95):.2f} ms",
        f"hover picking (CPU uniform grid, 10 px radius): {pick_ms[0] * 1000:.1f} us per query "
        f"({pick_ms[1]} of 2000 random queries hit a point)",
    ]
    if REPORT:
        Path(REPORT).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n" + "\n".join(lines))
