"""The whole map of a large catalogue in a real Chromium: every point from one binary answer, zoom into a corner,
hover a point there and read its card; and the 2-D canvas where WebGL is missing.

The catalogue (100,000 items and a clustering run, about 30 s to build) is made by ``bigmap.build``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.frontend.bigmap import BigMap, build, serve, title_of
from tests.frontend.conftest import open_route, shot

N = 100_000


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BigMap, str]]:
    bm = build(Path(tmp_path_factory.mktemp("bigmap")) / "data", N)
    with serve(bm.settings) as url:
        yield bm, url


def _page(browser: Any, url: str, no_webgl: bool = False) -> Any:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB", base_url=url)
    ctx.set_default_timeout(60_000)
    if no_webgl:  # as in a locked-down browser: no WebGL context at all
        ctx.add_init_script("""(() => { const get = HTMLCanvasElement.prototype.getContext;
          HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
            return /webgl/.test(kind) ? null : get.call(this, kind, ...rest); }; })()""")
    pg = ctx.new_page()
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    return pg


def _corner_item(page: Any) -> tuple[int, float, float]:
    """A point in the top-left corner of the whole map (on screen now), and where it is on the page."""
    # the item nearest the top-left of the drawn map, among the clustered and unclustered alike
    found = page.evaluate("""() => { const m = window.tesseraMap.map; let best = -1, bd = Infinity;
      for (let i = 0; i < m.n; i++) { const d = m.xs[i] + (1 - m.ys[i]); if (d < bd) { bd = d; best = i; } }
      return best; }""")
    item = int(page.evaluate(f"window.tesseraMap.itemAt({found})"))
    return (item, *_on_page(page, item))


def test_the_whole_map_of_100k_items_zoom_into_a_corner_and_hover(browser: Any, big: tuple[BigMap, str]) -> None:
    bm, url = big
    requests: list[str] = []
    page = _page(browser, url)
    page.on("request", lambda r: requests.append(r.url) if "/api/clusterings" in r.url else None)
    open_route(page, "#/map")
    page.wait_for_function(f"window.tesseraMap && window.tesseraMap.pointCount === {N}")
    assert page.evaluate("window.tesseraMap.mode") == "webgl"
    # every point in one binary answer, no JSON pages of points
    assert sum("/points.bin" in u for u in requests) == 1
    assert not any("points_offset" in u for u in requests)
    page.get_by_label("Play a short preview when pointing at a sound").uncheck()
    page.wait_for_timeout(400)
    first = page.evaluate("window.tesseraMap.lastFrame")
    assert first["drawn"] == N and not first["lod"]  # at rest, the whole map shows every point
    shot(page, "map-100k-whole", full_page=False)

    # zoom into the top-left corner with the wheel, on a point there
    item, x, y = _corner_item(page)
    page.mouse.move(x, y)
    for _ in range(6):  # the wheel keeps the point under the pointer where it is
        page.mouse.wheel(0, -500)
        page.wait_for_timeout(60)
    page.wait_for_function("window.tesseraMap.map.zoomLevel() > 8")
    x, y = _on_page(page, item)
    page.wait_for_timeout(400)  # at rest again
    zoomed = page.evaluate("window.tesseraMap.lastFrame")
    assert 0 < zoomed["drawn"] < N / 4, zoomed  # only the tiles in view are drawn

    # hover the corner point: the ring, and the card with its title and group
    page.mouse.move(x + 40, y + 40)
    page.mouse.move(x, y)
    page.wait_for_function(f"window.tesseraMap.hoveredItem === {item}")
    tip = page.locator(".map-tip")
    tip.filter(has_text=title_of(item)).wait_for()
    i = int(np.flatnonzero(bm.ids == item)[0])
    assert page.locator(".map-ring").is_visible()
    lines = tip.inner_text().splitlines()
    assert lines[0] == title_of(item) and lines[1] == page.evaluate(f"window.tesseraMap.clusterTextOf({item})")
    shot(page, "map-100k-corner-hover", full_page=False)
    assert bm.coords[i][0] < np.median(bm.coords[:, 0])  # it is on the left of the map indeed

    # click opens it
    page.mouse.click(x, y)
    page.wait_for_function(f"location.hash === '#/item/{item}'")
    assert not page.errors, page.errors
    page.context.close()


def _on_page(page: Any, item: int) -> tuple[float, float]:
    xy = page.evaluate(f"window.tesseraMap.screenOf({item})")
    box = page.locator("canvas.map-canvas").bounding_box()
    return box["x"] + xy[0], box["y"] + xy[1]


def test_without_webgl_the_map_draws_on_a_2d_canvas_and_says_so(browser: Any, big: tuple[BigMap, str]) -> None:
    _bm, url = big
    page = _page(browser, url, no_webgl=True)
    open_route(page, "#/map")
    page.wait_for_function(f"window.tesseraMap && window.tesseraMap.pointCount === {N}")
    assert page.evaluate("window.tesseraMap.mode") == "canvas2d"
    note = page.locator(".map-fallback")
    assert note.is_visible() and "WebGL" in note.inner_text()
    page.wait_for_timeout(400)
    # the canvas holds drawn points (coloured pixels), not an empty or black box
    colours = page.evaluate("""() => { const c = document.querySelector('canvas.map-canvas');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let white = 0, black = 0, other = 0;
      for (let i = 0; i < d.length; i += 4 * 7) { const s = d[i] + d[i + 1] + d[i + 2];
        if (s === 765) white++; else if (s === 0) black++; else other++; } return { white, black, other }; }""")
    assert colours["other"] > 1000 and colours["black"] < colours["other"], colours
    shot(page, "map-100k-canvas2d", full_page=False)
    # hover still works on the 2-D canvas
    item = int(page.evaluate("window.tesseraMap.itemAt(0)"))
    page.mouse.move(*_on_page(page, item))
    page.wait_for_function("window.tesseraMap.hoveredItem !== null")
    assert not page.errors, page.errors
    page.context.close()
