"""Finding 9 in a real Chromium: the policy is enforced and the app runs under it; unsafe links are not
rendered; the API docs load nothing from another origin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.security.conftest import Server

playwright = pytest.importorskip("playwright.sync_api")


def _page(browser: Any, srv: Server) -> tuple[Any, Any, list[str], list[str]]:
    ctx = browser.new_context(base_url=srv.url)
    ctx.set_default_timeout(20_000)
    pg = ctx.new_page()
    errors: list[str] = []
    requests: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    # CSP refusals are reported on the console (and as securitypolicyviolation events)
    pg.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    pg.on("request", lambda r: requests.append(r.url))
    pg.add_init_script("document.addEventListener('securitypolicyviolation', e => "
                       "console.error('Content Security Policy violation: ' + e.violatedDirective))")
    return ctx, pg, errors, requests


def test_unsafe_source_links_are_not_rendered_and_the_app_runs_under_the_policy(
        browser: Any, serve: Callable[..., Server]) -> None:
    srv = serve(source_url="javascript:document.title='pwned'")  # a record whose page URL is a script
    ctx, pg, errors, requests = _page(browser, srv)
    try:
        resp = pg.goto("/")
        pg.wait_for_function("() => document.querySelector('main').dataset.rendered === location.hash")
        item = pg.evaluate("fetch('/api/items').then(r => r.json()).then(b => b.items[0].id)")
        pg.evaluate("id => { location.hash = '#/item/' + id; }", item)
        pg.wait_for_function("() => document.querySelector('main').dataset.rendered === location.hash")
        hrefs = pg.eval_on_selector_all("a[href]", "as => as.map(a => a.getAttribute('href'))")
        assert hrefs and not [h for h in hrefs if h.strip().lower().startswith(("javascript:", "data:"))], hrefs
        assert pg.evaluate("document.title") != "pwned"
        for route in ("#/search", "#/datasets", "#/consent", "#/signin"):  # views draw under the policy
            pg.evaluate("h => { location.hash = h; }", route)
            pg.wait_for_function("h => document.querySelector('main').dataset.rendered === h", arg=route)
        assert resp is not None and "frame-ancestors 'none'" in resp.headers.get("content-security-policy", "")
        assert not errors, errors
        origin = urlsplit(srv.url).netloc
        assert all(urlsplit(u).netloc in ("", origin) for u in requests if u.startswith("http")), requests
    finally:
        ctx.close()


def test_the_api_docs_load_only_from_this_server(browser: Any, serve: Callable[..., Server]) -> None:
    srv = serve()
    ctx, pg, errors, requests = _page(browser, srv)
    try:
        pg.goto("/docs")
        pg.wait_for_selector(".opblock", timeout=30_000)  # Swagger UI drew the operations
        origin = urlsplit(srv.url).netloc
        foreign = [u for u in requests if u.startswith("http") and urlsplit(u).netloc != origin]
        assert not foreign, foreign
        assert not errors, errors
    finally:
        ctx.close()


def test_a_framing_page_cannot_show_the_app(browser: Any, serve: Callable[..., Server]) -> None:
    srv = serve()
    ctx, pg, _, _ = _page(browser, srv)
    try:
        # a page on another origin (about:blank here) framing the app: the frame stays empty
        pg.set_content(f'<iframe id="f" onload="this.dataset.loaded = 1" src="{srv.url}/"></iframe>')
        pg.wait_for_function("() => document.getElementById('f').dataset.loaded === '1'")
        frame = pg.frame_locator("#f")
        assert frame.locator("main#main").count() == 0
    finally:
        ctx.close()
