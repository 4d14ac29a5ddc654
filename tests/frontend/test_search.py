"""Search: by a dropped or chosen file, by a recorded clip, by example, by words and filters; pages of results."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.frontend.conftest import SONIC_PI, Web, open_route, shot, wait_hash, wait_rendered

YO = "ìró gígùn"  # an accepted Yorùbá name on the drones' cluster (see conftest)


def _titles(page: Any) -> list[str]:
    return page.locator(".search-results li.result .result-title").all_inner_texts()


def _wait_results(page: Any) -> None:
    wait_rendered(page)
    page.wait_for_function("!document.querySelector('.results-box').hasAttribute('aria-busy')")


def test_search_by_chosen_and_dropped_file(page: Any, web: Web) -> None:
    uploads: list[str] = []
    page.on("request", lambda r: uploads.append(r.url) if r.method == "POST" and "/api/search" in r.url else None)
    open_route(page, "#/search")
    # choose a file: the same recording as an indexed item comes back first
    page.locator("input[type=file]").set_input_files(str(SONIC_PI / "bd_haus.flac"))
    wait_hash(page, "upload=1")
    _wait_results(page)
    assert _titles(page)[0] == "bd_haus"
    assert "bd_haus.flac" in page.locator(".query-info").inner_text()
    assert len(uploads) == 1
    shot(page, "search-by-file")

    # drop a file on the drop zone (a real drag-and-drop DataTransfer carrying the audio)
    page.evaluate("""async (url) => {
      const bytes = await (await fetch(url)).arrayBuffer();
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'dropped-snare.flac', { type: 'audio/flac' }));
      const zone = document.querySelector('.dropzone');
      for (const type of ['dragenter', 'dragover', 'drop'])
        zone.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
    }""", f"/api/items/{web.ids['sn_dub']}/audio")
    page.locator(".query-info", has_text="dropped-snare.flac").wait_for()
    _wait_results(page)
    assert _titles(page)[0] == "sn_dub"

    # filters apply to a sound query too, and pages keep the uploaded clip
    page.get_by_label("Licence", exact=True).select_option("commercial")
    page.get_by_role("button", name="Apply filters").click()
    wait_hash(page, "licence_class=commercial")
    _wait_results(page)
    assert _titles(page)[0] == "sn_dub"
    assert not {"vinyl_hiss", "vinyl_scratch"} & set(_titles(page))
    page.get_by_role("button", name="Next →").click()
    wait_hash(page, "offset=20")
    _wait_results(page)
    assert "Showing 21–" in page.locator(".pager-status").inner_text()
    assert "dropped-snare.flac" in page.locator(".query-info").inner_text()
    assert len(uploads) == 4


def test_search_by_recorded_clip(page: Any, web: Web) -> None:
    open_route(page, "#/search")
    rec = page.get_by_role("button", name="Record a clip")
    rec.click()
    page.get_by_role("button", name="Stop recording").wait_for()
    page.wait_for_timeout(1800)
    # the browser records WebM/Opus, which the API does not read: the app sends it as WAV, and the API takes it
    with page.expect_response(lambda r: r.request.method == "POST" and "/api/search" in r.url) as resp:
        page.get_by_role("button", name="Stop recording").click()
    assert resp.value.status == 200, resp.value.text()
    page.locator(".query-info", has_text="recording.wav").wait_for()
    _wait_results(page)
    assert len(_titles(page)) == 20
    assert "Recorded" in page.locator(".rec-state").inner_text()


def test_search_by_example_words_and_filters(page: Any, web: Web) -> None:
    # query by example
    open_route(page, f"#/search?item={web.ids['ambi_drone']}")
    _wait_results(page)
    page.locator(".query-info", has_text="Sounds like ambi_drone").wait_for()
    titles = _titles(page)
    assert titles and "ambi_drone" not in titles
    assert page.locator(".search-results li.result .meta", has_text="distance").count() == len(titles)
    page.get_by_role("button", name="Clear", exact=True).click()
    wait_hash(page, "#/search", exact=True)

    # words
    page.get_by_label("Words").fill("ambi")
    page.get_by_label("Words").press("Enter")
    wait_hash(page, "q=ambi")
    _wait_results(page)
    titles = _titles(page)
    assert titles and all(t.startswith("ambi_") for t in titles), titles

    # filters: each narrows the catalogue the way it says
    cases: list[tuple[str, Any]] = [
        ("#/search?duration_max=0.5", lambda it: it["duration"] <= 0.5),
        ("#/search?duration_min=5", lambda it: it["duration"] >= 5),
        ("#/search?licence_class=open", lambda it: it["licence"]["open"]),
        ("#/search?licence_class=commercial", lambda it: not it["licence"]["requires"]["non_commercial"]),
        ("#/search?exclude_flag=mono&exclude_flag=too_short",
         lambda it: not {"mono", "too_short"} & set((it.get("quality") or {}).get("flags", []))),
        (f"#/search?cluster={web.cluster_with('bd_haus')}",
         lambda it: web.cluster_of[it["id"]] == web.cluster_with("bd_haus")),
        (f"#/search?label={quote(YO)}", lambda it: web.cluster_of[it["id"]] == web.cluster_with("ambi_drone")),
    ]
    for route, ok in cases:
        open_route(page, route)
        _wait_results(page)
        api = page.request.get(f"{web.url}/api/search?{route.split('?', 1)[1]}&limit=20").json()
        assert api["total"] > 0, route
        assert all(ok(h["item"]) for h in api["items"]), route
        shown = _titles(page)
        assert shown == [h["item"]["title"] for h in api["items"]], route
        assert f"{api['total']} sound" in page.locator(".results-status").inner_text()
        # the form shows the filters in force
        assert page.locator(".filter-panel").get_attribute("open") is not None

    # the filters panel drives the same query
    open_route(page, "#/search")
    panel = page.locator(".filter-panel")
    panel.get_by_label("Key").select_option("C")
    panel.get_by_label("Scale").select_option("major")
    panel.get_by_role("group", name="Tempo (beats per minute)").get_by_label("from").fill("60")
    panel.get_by_role("group", name="Tuning (cents from A = 440 Hz)").get_by_label("to").fill("50")
    panel.get_by_label("Source").select_option("folder")
    panel.get_by_label("Tempo confidence at least (0–5)").fill("0")
    panel.get_by_label("clipped (distorted peaks)").check()
    panel.get_by_role("button", name="Apply filters").click()
    wait_hash(page, "key=C")
    _wait_results(page)
    url = page.url
    for part in ("key=C", "scale=major", "bpm_min=60", "tuning_max=50", "source=folder", "exclude_flag=clipped",
                 "bpm_confidence_min=0"):
        assert part in url, (part, url)
    api = page.request.get(f"{web.url}/api/search?{url.split('?', 1)[1]}&limit=20").json()
    assert _titles(page) == [h["item"]["title"] for h in api["items"]]
    assert "(7 active)" in panel.locator("summary").inner_text()
    shot(page, "search-filters")

    # a bad combination: the API's message is shown
    open_route(page, "#/search?duration_min=-3")
    page.locator(".results-box [role=alert]").wait_for()
    assert page.locator(".results-box [role=alert]").inner_text().startswith("The search failed:")


def test_search_pages_through_the_catalogue(page: Any, web: Web) -> None:
    open_route(page, "#/search")
    _wait_results(page)
    total = page.request.get(f"{web.url}/api/search?limit=1").json()["total"]
    assert total >= len(web.ids) - 1  # one may have been withdrawn by the moderation test
    assert f"{total} sounds found" in page.locator(".results-status").inner_text()
    first = _titles(page)
    assert len(first) == 20
    page.get_by_role("button", name="Next →").click()
    _wait_results(page)
    second = _titles(page)
    assert second and not set(first) & set(second)
    assert f"Showing 21–{min(40, total)} of {total}" in page.locator(".pager-status").inner_text()
    # focus moves to the results heading after a page change (screen readers hear the new results)
    assert page.evaluate("document.activeElement.id") == "results-h"
    page.get_by_role("button", name="← Previous").click()
    _wait_results(page)
    assert _titles(page) == first
