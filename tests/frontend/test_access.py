"""Keyboard, labels, contrast, a phone-sized screen, and the interface in the reader's language."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.frontend.conftest import Web, open_route, shot, sign_in

STATIC = Path(__file__).resolve().parents[2] / "tessera" / "frontend" / "static"

# every visible control has an accessible name (label, aria-label(ledby), title or its own text)
UNNAMED_CONTROLS = """() => {
  const name = (e) => {
    if (e.getAttribute('aria-label')) return e.getAttribute('aria-label');
    const by = e.getAttribute('aria-labelledby');
    if (by) return by.split(' ').map((id) => (document.getElementById(id) || {}).textContent || '').join(' ');
    if (e.labels && e.labels.length) return [...e.labels].map((l) => l.textContent).join(' ');
    if (e.title) return e.title;
    if (['BUTTON', 'A', 'SUMMARY'].includes(e.tagName)) return e.textContent;
    return '';
  };
  return [...document.querySelectorAll('input, select, textarea, button, a[href], summary, [tabindex="0"]')]
    .filter((e) => e.type !== 'hidden' && e.getClientRects().length && !e.closest('[hidden]'))
    .filter((e) => !name(e).trim())
    .map((e) => e.outerHTML.slice(0, 140));
}"""

# WCAG AA contrast of every visible text against its (composited) background
LOW_CONTRAST = """() => {
  const parse = (s) => { const m = s.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return { rgb: p.slice(0, 3), a: p.length > 3 ? p[3] : 1 }; };
  const lum = (c) => { const [r, g, b] = c.map((v) => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const mix = (top, under) => under.map((v, i) => top.rgb[i] * top.a + v * (1 - top.a));
  const background = (el) => { const layers = [];
    for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; } }
    let rgb = [255, 255, 255]; for (const l of layers.reverse()) rgb = mix(l, rgb); return rgb; };
  const out = []; const seen = new Set();
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const node = walk.currentNode; const el = node.parentElement;
    if (!node.textContent.trim() || seen.has(el)) continue; seen.add(el);
    if (el.closest('[hidden], .visually-hidden, :disabled, option, script, style')) continue;
    const cs = getComputedStyle(el); const r = el.getBoundingClientRect();
    if (cs.visibility === 'hidden' || !r.width || !r.height) continue;
    const bg = background(el); const fgc = parse(cs.color); const fg = mix(fgc, bg);
    const [a, b] = [lum(fg), lum(bg)]; const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(cs.fontSize); const large = size >= 24 || (parseInt(cs.fontWeight) >= 700 && size >= 18.66);
    if (ratio < (large ? 3 : 4.5)) out.push(`${node.textContent.trim().slice(0, 40)}: ${ratio.toFixed(2)} ${cs.color}`);
  }
  return out;
}"""


def _check_page(page: Any, name: str) -> None:
    unnamed = page.evaluate(UNNAMED_CONTROLS)
    assert not unnamed, f"{name}: controls without a name: {unnamed}"
    low = page.evaluate(LOW_CONTRAST)
    assert not low, f"{name}: text below AA contrast: {low}"


def _ready(page: Any, route: str, selector: str) -> None:
    open_route(page, route)
    page.locator(selector).first.wait_for()


def test_labels_and_contrast_on_every_page(page: Any, web: Web) -> None:
    cid = web.cluster_with("ambi_drone")
    pages = [
        ("map", "#/map", "li.legend-item"), ("item", f"#/item/{web.long_id}", "canvas.waveform[data-ready='true']"),
        ("search", "#/search", "li.result"), ("cluster", f"#/cluster/{cid}", "li.result"),
        ("consent", "#/consent", "h1"), ("signin", "#/signin", "form"), ("datasets", "#/datasets", "h1"),
    ]
    for name, route, sel in pages:
        _ready(page, route, sel)
        _check_page(page, name)
    sign_in(page, "mod")
    for name, route, sel in [("cluster-editor", f"#/cluster/{cid}", "form.propose"),
                             ("datasets-editor", "#/datasets", "form.create-dataset"),
                             ("moderation", "#/moderation", "h1")]:
        _ready(page, route, sel)
        _check_page(page, name)
    # the report form and the item page's disclosure controls
    _ready(page, f"#/item/{web.ids['bd_haus']}", "tr[data-feature='bpm']")
    page.get_by_role("button", name="Report this item").click()
    _check_page(page, "item-report")


def test_keyboard_order_and_visible_focus(page: Any, web: Web) -> None:
    open_route(page, "#/map")
    page.locator("li.legend-item").first.wait_for()
    page.evaluate("document.activeElement.blur()")
    order = []
    for _ in range(12):
        page.keyboard.press("Tab")
        info = page.evaluate("""() => { const e = document.activeElement; const cs = getComputedStyle(e);
          return { tag: e.tagName, text: (e.getAttribute('aria-label') || e.textContent || '').trim().slice(0, 30),
                   outline: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2 }; }""")
        order.append(info)
        assert info["outline"], f"no visible focus on {info}"
    texts = [o["text"] for o in order]
    assert texts[0] == "Skip to content"
    assert texts.index("Map") < texts.index("Search") < texts.index("Datasets") < texts.index("Sign in")
    assert texts.index("Sign in") < texts.index("Zoom in") < texts.index("Zoom out") < texts.index("Show everything")
    assert "CANVAS" in [o["tag"] for o in order]
    # the skip link jumps to the content (and leaves the address alone)
    open_route(page, "#/search")
    page.reload()
    page.wait_for_function("document.querySelector('main').dataset.rendered === location.hash")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    assert page.evaluate("location.hash") == "#/search"
    # every action by keyboard: search by words, open a result, add it to the basket
    page.get_by_label("Words").focus()
    page.keyboard.type("bd_haus")
    page.keyboard.press("Enter")
    page.locator("li.result .result-title", has_text="bd_haus").first.focus()
    page.keyboard.press("Enter")
    page.locator("h1", has_text="bd_haus").wait_for()
    # route changes move focus to the new page's heading (screen readers announce it)
    assert page.evaluate("document.activeElement.tagName") == "H1"
    page.locator(".item-head button.basket-btn").focus()
    page.keyboard.press("Enter")
    assert "1 in basket" in page.locator("#basket-count").inner_text()


def test_phone_sized_screens(browser: Any, web: Web) -> None:
    ctx = browser.new_context(viewport={"width": 375, "height": 667}, base_url=web.url, is_mobile=True,
                              has_touch=True)
    page = ctx.new_page()
    cid = web.cluster_with("ambi_drone")
    for name, route, sel in [("item", f"#/item/{web.long_id}", "canvas.waveform[data-ready='true']"),
                             ("search", "#/search", "li.result"), ("cluster", f"#/cluster/{cid}", "li.result"),
                             ("datasets", "#/datasets", "h1"), ("consent", "#/consent", "h1"),
                             ("signin", "#/signin", "form")]:
        _ready(page, route, sel)
        page.wait_for_timeout(200)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{name} scrolls sideways on a phone ({width}px)"
        shot(page, f"{name}-375")
    ctx.close()


def test_interface_language_with_fallback(browser: Any, web: Web) -> None:
    ctx = browser.new_context(locale="fr-FR", base_url=web.url)
    page = ctx.new_page()
    open_route(page, "#/map")
    assert page.evaluate("navigator.languages[0]").startswith("fr")
    assert page.evaluate("document.documentElement.lang") == "fr"
    nav = page.locator("nav[aria-label]")
    assert "Carte" in nav.inner_text() and "Recherche" in nav.inner_text()
    assert page.locator("h1").inner_text() == "Carte des sons"
    # strings not yet translated fall back to English
    assert "Drag or use the arrow keys" in page.locator(".hint").first.inner_text()
    page.locator("li.legend-item").first.wait_for()
    assert "Voir sur la carte" in page.locator("aside.legend").inner_text()
    shot(page, "map-fr", full_page=False)
    # the reader may choose another language; the choice is kept
    page.get_by_label("Langue").select_option("en")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.locator("h1", has_text="Sound map").wait_for()
    ctx.close()


def test_every_string_comes_from_the_english_catalogue() -> None:
    en = json.loads((STATIC / "i18n" / "en.json").read_text(encoding="utf-8"))
    manifest = json.loads((STATIC / "i18n" / "index.json").read_text(encoding="utf-8"))
    keys = set()
    for js in (STATIC / "js").rglob("*.js"):
        keys |= set(re.findall(r'\bt\(\s*"([a-z0-9_.]+)"', js.read_text(encoding="utf-8")))
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    keys |= set(re.findall(r'data-i18n="([^"]+)"', html))
    keys |= {pair.split(":")[1] for attr in re.findall(r'data-i18n-attr="([^"]+)"', html) for pair in attr.split(";")}
    keys = {k for k in keys if "." in k and not k.endswith("_")}  # "item.status_" + status: checked below
    keys |= {f"item.status_{s}" for s in ("pending", "indexed", "failed")}
    missing = sorted(k for k in keys if k not in en and f"{k}_other" not in en)
    assert not missing, missing
    # other locales: a subset of English, with the same placeholders
    for code in manifest["languages"]:
        loc = json.loads((STATIC / "i18n" / f"{code}.json").read_text(encoding="utf-8"))
        assert set(loc) <= set(en), set(loc) - set(en)
        for k, v in loc.items():
            assert set(re.findall(r"\{(\w+)\}", v)) == set(re.findall(r"\{(\w+)\}", en[k])), k
