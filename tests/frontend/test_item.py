"""An item's page: waveform player with segment marks, licence in plain words, source, features, similar, actions."""

from __future__ import annotations

from typing import Any

from tests.frontend.conftest import Web, open_route, shot, wait_until


def _section(page: Any, heading_id: str) -> Any:
    return page.locator(f"section[aria-labelledby='{heading_id}']")


def test_item_page_licence_source_features_similar(page: Any, web: Web) -> None:
    iid = web.ids["guit_harmonics"]
    api_item = page.request.get(f"{web.url}/api/items/{iid}").json()
    dictionary = {f["name"]: f for f in page.request.get(f"{web.url}/api/features").json()["features"]}
    audio_requests: list[str] = []
    page.on("request", lambda r: audio_requests.append(r.url) if r.url.endswith("/audio") else None)
    open_route(page, f"#/item/{iid}")
    assert page.locator("h1").inner_text() == "guit_harmonics"
    assert "by Test Guitarist" in page.locator(".byline").inner_text()

    # licence and attribution in plain words, with the ready-to-paste credit line
    lic = _section(page, "item-licence-h")
    text = lic.inner_text()
    assert "You may use this for anything, including commercially." in text
    assert "You must credit Test Guitarist" in text
    assert api_item["attribution"] in text
    assert lic.locator(f"a[href='{api_item['licence']['url']}']").count() == 1

    # where it comes from: the record's page
    src = _section(page, "item-source-h")
    assert src.locator("a[href='https://example.org/guitar-pack']").count() == 1
    assert api_item["md5"] in src.inner_text()

    # the waveform is drawn from the decoded audio (dark pixels on the white canvas)
    page.wait_for_selector("canvas.waveform[data-ready='true']")
    dark = page.evaluate("""() => { const c = document.querySelector('canvas.waveform');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] < 100 && d[i + 2] > 80) n++; return n; }""")
    assert dark > 200, dark

    # features explained with the data dictionary
    page.wait_for_selector("tr[data-feature='bpm']")
    row = page.locator("tr[data-feature='bpm']").first
    assert dictionary["bpm"]["meaning"] in row.inner_text()
    assert dictionary["bpm"]["reliability"] in row.inner_text()
    group = page.locator("details.feature-group", has_text="Tone colour")
    group.locator("summary").click()
    assert dictionary["mfcc_mean_1"]["meaning"] in group.locator("tr[data-feature='mfcc_mean_1']").inner_text()

    # similar, per space, with playable results
    sim = _section(page, "item-similar-h")
    sim.locator("[data-space='all'] li.result").first.wait_for()
    assert sim.locator("li.result").count() == 10
    assert sim.locator("li.result .why").first.inner_text().startswith("Why: ")
    titles = sim.locator("li.result .result-title").all_inner_texts()
    assert "guit_harmonics" not in titles
    sim.get_by_label("rhythm").check()
    sim.locator("[data-space='rhythm'] li.result").first.wait_for()
    first = sim.locator("li.result").first
    play = first.locator("button.play")
    rid = first.get_attribute("data-item-id")
    play.click()
    page.wait_for_function("el => el.dataset.state === 'playing'", arg=play.element_handle())
    wait_until(page, lambda: any(u.endswith(f"/items/{rid}/audio") for u in audio_requests))
    assert "Stop" in play.inner_text()
    play.click()
    assert play.get_attribute("data-state") == "stopped"
    shot(page, "item")

    # the dataset basket, from the item page
    page.locator(".item-head").get_by_role("button", name="Add guit_harmonics to the dataset basket").click()
    assert "1 in basket" in page.locator("#basket-count").inner_text()
    basket = page.evaluate("JSON.parse(localStorage.getItem('tessera.basket'))")
    assert basket[0]["item_id"] == iid and basket[0]["licence"] == "CC-BY-4.0"

    # report this item (anyone, no sign-in)
    page.get_by_role("button", name="Report this item").click()
    form = page.locator("form.report-form")
    form.get_by_label("The licence or credit is wrong").check()
    form.get_by_label("More details (optional)").fill("The guitarist's name is spelt differently on the sleeve.")
    form.get_by_role("button", name="Send report").click()
    page.locator(".report .msg.ok", has_text="Thank you").wait_for()


def test_item_segments_and_waveform_marks(page: Any, web: Web) -> None:
    api_item = page.request.get(f"{web.url}/api/items/{web.long_id}").json()
    segs = api_item["segments"]
    assert len(segs) >= 2
    open_route(page, f"#/item/{web.long_id}")
    page.wait_for_selector("canvas.waveform[data-ready='true']")
    assert page.locator("ol.segments li").count() == len(segs)
    assert f"{len(segs)} segments marked" in page.locator("canvas.waveform").get_attribute("aria-label")
    # a mark is drawn at the start of the second segment (a 1-px brown line)
    colour = page.evaluate(f"""() => {{ const c = document.querySelector('canvas.waveform');
      const x = Math.round({segs[1]['start']} / {api_item['duration']} * c.width);
      const best = [];
      for (const dx of [-1, 0, 1]) best.push(Array.from(c.getContext('2d').getImageData(x + dx, 2, 1, 1).data));
      return best; }}""")
    assert any(abs(r - 138) < 20 and abs(g - 75) < 20 and b < 40 for r, g, b, _ in colour), colour
    # "Play from here" seeks the player to the segment
    page.get_by_role("button", name="Play segment 2").click()
    page.wait_for_function(f"document.querySelector('.player audio').currentTime >= {segs[1]['start'] - 0.01}")
    page.wait_for_function("!document.querySelector('.player audio').paused")
    # a segment can go into the basket by itself
    page.locator("ol.segments li").nth(1).locator("button.basket-btn").click()
    basket = page.evaluate("JSON.parse(localStorage.getItem('tessera.basket'))")
    assert basket[0]["segment_id"] == segs[1]["id"]
    shot(page, "item-segments", full_page=False)


def test_item_shows_cultural_protocol_labels(page: Any, web: Web) -> None:
    open_route(page, f"#/item/{web.protocol_id}")
    block = page.locator("section.protocol")
    block.wait_for()
    text = block.inner_text()
    assert "Cultural protocols" in text and "TK Attribution" in text
    assert "Tabla players of the test suite" in text and "Name the tradition when you use this sound." in text
    # shown first, before the player
    order = page.evaluate("""() => { const all = [...document.querySelectorAll('main section')];
      return [all.findIndex(s => s.classList.contains('protocol')),
              all.findIndex(s => s.getAttribute('aria-labelledby') === 'item-player-h')]; }""")
    assert order[0] < order[1]
    shot(page, "item-protocol", full_page=False)
    # and flagged in lists: search results carry a badge
    open_route(page, "#/search?q=tabla_na")
    page.locator(f"li.result[data-item-id='{web.protocol_id}'] .protocol-badge").wait_for()


def test_item_not_found_says_so(page: Any, web: Web) -> None:
    open_route(page, "#/item/999999")
    assert "Sound not found" in page.locator("h1").inner_text()
    assert page.locator("main [role=alert]").inner_text().strip()


def test_restricted_licence_in_plain_words(page: Any, web: Web) -> None:
    open_route(page, f"#/item/{web.ids['vinyl_hiss']}")
    text = page.locator("section[aria-labelledby='item-licence-h']").inner_text()
    assert "You may use this only for non-commercial purposes." in text
    assert "You must credit Vinyl Club" in text
    assert "commercial use or changes are not allowed" in text
    assert page.locator(".byline .lic.restricted", has_text="CC-BY-NC-4.0").count() == 1
