"""The map: the newest clustering run drawn with WebGL; zoom, pan, hover to hear, click to open; the legend."""

from __future__ import annotations

import json
from typing import Any

from tests.frontend.conftest import Web, open_route, shot, wait_hash, wait_until


def _point_on_page(page: Any, item_id: int) -> tuple[float, float]:
    xy = page.evaluate(f"window.tesseraMap.screenOf({item_id})")
    assert xy is not None, f"item {item_id} is not on the map"
    box = page.locator("canvas.map-canvas").bounding_box()
    return box["x"] + xy[0], box["y"] + xy[1]


def _view(page: Any) -> dict[str, float]:
    return page.evaluate("({...window.tesseraMap.map.view})")


def test_map_zoom_pan_hover_preview_click(page: Any, web: Web) -> None:
    audio_requests: list[str] = []
    page.on("request", lambda r: audio_requests.append(r.url) if r.url.endswith("/audio") else None)
    open_route(page, "#/map")
    page.wait_for_function("window.tesseraMap && window.tesseraMap.pointCount > 0")
    assert page.evaluate("window.tesseraMap.mode") == "webgl"
    run = page.request.get(f"{web.url}/api/clusterings/{web.run_id}").json()
    # the public gets 16 points an answer here: every page was gathered
    assert len(run["points"]) == 16 and run["points_next"]
    assert page.evaluate("window.tesseraMap.pointCount") == run["points_total"] >= len(web.ids) - 1
    assert page.evaluate("window.tesseraMap.runId") == web.run_id

    # the legend: every cluster with its size, summary and a link to its page; names in their language
    legend = page.locator("aside.legend")
    for c in web.clusters:
        entry = legend.locator(f"li.legend-item[data-cluster-id='{c['id']}']")
        assert entry.locator(f"a[href='#/cluster/{c['id']}']").count() == 1
        assert c["explanation"]["summary"] in entry.inner_text()
    yo = legend.locator("[lang='yo']", has_text="ìró gígùn")
    assert yo.count() >= 1
    assert legend.locator("abbr.lang-tag", has_text="yo").count() >= 1
    if any(c is None for c in web.cluster_of.values()):
        assert "Not in any group" in legend.inner_text()

    # hover shows the title and its cluster; no sound before the person has interacted with the page
    target = web.ids["ambi_drone"]
    page.mouse.move(*_point_on_page(page, target))
    page.wait_for_function(f"window.tesseraMap.hoveredItem === {target}")
    tip = page.locator(".map-tip")
    tip.filter(has_text="ambi_drone").wait_for()
    page.wait_for_timeout(600)
    assert not [u for u in audio_requests if f"/items/{target}/audio" in u], "a preview played before any interaction"
    shot(page, "map-hover", full_page=False)

    # zoom with the buttons and the wheel, pan by dragging and with the keyboard
    v0 = _view(page)
    page.get_by_role("button", name="Zoom in").click()
    assert _view(page)["scale"] > v0["scale"]
    page.get_by_role("button", name="Zoom out").click()
    page.get_by_role("button", name="Zoom out").click()
    assert _view(page)["scale"] < v0["scale"]
    page.get_by_role("button", name="Show everything").click()
    box = page.locator("canvas.map-canvas").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.wheel(0, -400)
    page.wait_for_function(f"window.tesseraMap.map.view.scale > {v0['scale'] * 1.2}")
    page.get_by_role("button", name="Show everything").click()
    v1 = _view(page)
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 80, cy + 40, steps=5)
    page.mouse.up()
    v2 = _view(page)
    assert v2["cx"] < v1["cx"] and v2["cy"] > v1["cy"], (v1, v2)  # content follows the pointer
    page.locator("canvas.map-canvas").focus()
    page.keyboard.press("ArrowRight")
    assert _view(page)["cx"] > v2["cx"]
    page.keyboard.press("ArrowUp")
    page.keyboard.press("+")
    assert _view(page)["scale"] > v2["scale"]
    page.keyboard.press("0")  # back to everything
    page.get_by_role("button", name="Show everything").click()

    # after the person has interacted (here: zooming, panning), hovering plays a short preview
    other = web.ids["bd_haus"]
    page.mouse.move(*_point_on_page(page, other))
    page.wait_for_function(f"window.tesseraMap.hoveredItem === {other}")
    wait_until(page, lambda: any(u.endswith(f"/items/{other}/audio") for u in audio_requests))
    page.locator(".map-tip", has_text="bd_haus").wait_for()

    # the map as a list: a cluster's sounds, linked to their pages
    cid = web.cluster_with("bd_haus")
    entry = legend.locator(f"li.legend-item[data-cluster-id='{cid}']")
    entry.locator("summary").click()
    entry.locator(".member-list a", has_text="bd_haus").wait_for()

    # "Show on map" fits the view to that cluster
    before = _view(page)["scale"]
    entry.get_by_role("button", name="Show on map").click()
    assert _view(page)["scale"] > before

    # click opens the item page
    page.get_by_role("button", name="Show everything").click()
    page.mouse.click(*_point_on_page(page, target))
    wait_hash(page, f"#/item/{target}", exact=True)
    page.locator("h1", has_text="ambi_drone").wait_for()


def test_map_keyboard_only_opens_a_sound(page: Any, web: Web) -> None:
    open_route(page, "#/map")
    page.wait_for_function("window.tesseraMap && window.tesseraMap.pointCount > 0")
    target = web.ids["ambi_drone"]
    # move the view so that the target sits at the centre crosshair, with the keyboard only
    page.locator("canvas.map-canvas").focus()
    for _ in range(3):
        page.keyboard.press("+")
    for _ in range(40):
        xy = page.evaluate(f"window.tesseraMap.screenOf({target})")
        w, h = page.evaluate("[window.tesseraMap.map.width, window.tesseraMap.map.height]")
        dx, dy = xy[0] - w / 2, xy[1] - h / 2
        if abs(dx) < 30 and abs(dy) < 30:
            break
        if abs(dx) >= abs(dy):
            page.keyboard.press("ArrowRight" if dx > 0 else "ArrowLeft")
        else:
            page.keyboard.press("ArrowDown" if dy > 0 else "ArrowUp")
    page.wait_for_function("window.tesseraMap.hoveredItem !== null")
    hovered = page.evaluate("window.tesseraMap.hoveredItem")
    page.keyboard.press("Enter")
    wait_hash(page, f"#/item/{hovered}", exact=True)


def test_map_without_a_run_says_how_to_make_one(page: Any, web: Web) -> None:
    empty = {"items": [], "total": 0, "limit": 1, "offset": 0, "next": None}
    page.route("**/api/clusterings?limit=1", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(empty)))
    open_route(page, "#/map")
    text = page.locator("main").inner_text()
    assert "There is no map yet" in text and "tessera cluster" in text


def test_map_on_a_phone(browser: Any, web: Web) -> None:
    ctx = browser.new_context(viewport={"width": 375, "height": 667}, base_url=web.url, has_touch=True,
                              is_mobile=True, device_scale_factor=2)
    page = ctx.new_page()
    open_route(page, "#/map")
    page.wait_for_function("window.tesseraMap && window.tesseraMap.pointCount > 0")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    canvas = page.locator("canvas.map-canvas").bounding_box()
    assert canvas["width"] > 300 and canvas["height"] > 250
    # tap a sound to open it
    target = web.ids["ambi_drone"]
    xy = page.evaluate(f"window.tesseraMap.screenOf({target})")
    page.locator("canvas.map-canvas").scroll_into_view_if_needed()
    canvas = page.locator("canvas.map-canvas").bounding_box()
    page.touchscreen.tap(canvas["x"] + xy[0], canvas["y"] + xy[1])
    wait_hash(page, f"#/item/{target}", exact=True)
    open_route(page, "#/map")
    page.wait_for_function("window.tesseraMap && window.tesseraMap.pointCount > 0")
    shot(page, "map-375")
    ctx.close()
