"""Findings 9 and 10 over HTTP: security headers, self-hosted docs, TrustedHost, no Host reflection,
no server paths in answers, no self-acceptance of labels."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

from tessera.api.hardening import DOCS_ASSETS
from tests.security.conftest import Server, bearer

_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


def _assert_hardened(r: httpx.Response) -> None:
    csp = r.headers.get("content-security-policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives.get("default-src") == ["'self'"] and directives.get("frame-ancestors") == ["'none'"]
    assert directives.get("script-src") == ["'self'"] and directives.get("object-src") == ["'none'"]
    # no third-party origin anywhere in the policy
    assert all(src in ("'self'", "'none'", "data:", "blob:") for srcs in directives.values() for src in srcs), csp
    assert r.headers.get("x-content-type-options") == "nosniff"
    assert r.headers.get("x-frame-options") == "DENY"
    assert r.headers.get("referrer-policy") in ("no-referrer", "strict-origin-when-cross-origin")


def test_every_kind_of_answer_carries_the_security_headers(serve: Callable[..., Server]) -> None:
    srv = serve(rate_limit_anonymous=3)
    with srv.client() as c:
        for path in ("/", "/static/js/app.js", "/api/items", "/api/items/999999", "/openapi.json", "/docs",
                     "/health"):
            _assert_hardened(c.get(path))
        _assert_hardened(c.get("/api/items", headers=bearer("tsr_bad_key")))  # 401 from the middleware
        for _ in range(3):
            c.get("/api/features")
        limited = c.get("/api/features")
        assert limited.status_code == 429
        _assert_hardened(limited)


def test_api_docs_are_served_from_this_server_only(serve: Callable[..., Server]) -> None:
    srv = serve()
    with srv.client() as c:
        page = c.get("/docs")
        assert page.status_code == 200
        urls = _URL.findall(page.text)
        assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
        assert "<script>" not in page.text  # no inline script: the policy would refuse it
        for u in urls:
            assert c.get(u).status_code == 200, u
        assert any(u.startswith(DOCS_ASSETS) for u in urls)
        assert c.get("/redoc").status_code == 404  # FastAPI's CDN-loading pages are gone
        assert c.get("/openapi.json").json()["info"]["title"] == "Tessera"


def test_trusted_hosts(serve: Callable[..., Server]) -> None:
    srv = serve(allowed_hosts=["tessera.example", "127.0.0.1"])
    with srv.client() as c:
        assert c.get("/api/items", headers={"Host": "evil.example"}).status_code == 400
        assert c.get("/api/items", headers={"Host": "tessera.example"}).status_code == 200
        assert c.get("/api/items").status_code == 200


def test_host_header_is_not_reflected_into_links(serve: Callable[..., Server]) -> None:
    srv = serve()
    with srv.client() as c:
        c.post("/api/schemes", json={"slug": "s", "name": "S", "rule": {"min_net_votes": 1}},
               headers=bearer(srv.keys["ana"])).raise_for_status()
        evil = {"Host": "evil.example"}
        nxt = c.get("/api/items", params={"limit": 1, "q": ""}, headers=evil).json()
        ttl = c.get("/api/schemes/s/skos", headers=evil).text
        jl = c.get("/api/schemes/s/skos", params={"format": "json-ld"}, headers=evil).text
    assert "evil.example" not in ttl and "evil.example" not in jl
    if nxt["next"] is not None:
        assert "evil.example" not in nxt["next"] and nxt["next"].startswith("/api/items?")
    configured = serve(public_url="https://tessera.example.org/")
    with configured.client() as c:
        c.post("/api/schemes", json={"slug": "s", "name": "S", "rule": {"min_net_votes": 1}},
               headers=bearer(configured.keys["ana"])).raise_for_status()
        ttl = c.get("/api/schemes/s/skos", headers={"Host": "evil.example"}).text
    assert "https://tessera.example.org/api/schemes/s" in ttl and "evil.example" not in ttl


def test_next_links_are_relative(serve: Callable[..., Server]) -> None:
    srv = serve()
    with srv.client() as c:
        c.post("/api/schemes", json={"slug": "a", "name": "A", "rule": {"min_net_votes": 1}},
               headers=bearer(srv.keys["ana"])).raise_for_status()
        c.post("/api/schemes", json={"slug": "b", "name": "B", "rule": {"min_net_votes": 1}},
               headers=bearer(srv.keys["ana"])).raise_for_status()
        body = c.get("/api/schemes", params={"limit": 1}, headers={"Host": "evil.example"}).json()
    path, _, query = body["next"].partition("?")
    assert path == "/api/schemes" and sorted(query.split("&")) == ["limit=1", "offset=1"]


def test_no_server_paths_in_item_answers_or_decoder_errors(serve: Callable[..., Server]) -> None:
    srv = serve()
    data_dir = str(srv.settings.data_dir.resolve())
    with srv.client() as c:
        items = c.get("/api/items").json()["items"]
        item = c.get(f"/api/items/{items[0]['id']}").text
        bad = c.post("/api/search", files={"file": ("clip.wav", b"RIFF\x24\x00\x00\x00WAVEfmt garbage" * 8)})
    for text in (item, str(items)):
        assert data_dir not in text and "/tmp/" not in text and "/corpus" not in text
    assert bad.status_code in (400, 415, 422), bad.text
    assert bad.json()["code"] == "undecodable"
    assert "/tmp/" not in bad.text and not re.search(r"/\w+/[\w.]+\.wav", bad.text), bad.text


def test_an_editor_may_not_vote_for_or_accept_her_own_label(serve: Callable[..., Server]) -> None:
    srv = serve()
    ana, ben = bearer(srv.keys["ana"]), bearer(srv.keys["ben"])
    with srv.client() as c:
        item = c.get("/api/items").json()["items"][0]["id"]
        c.post("/api/schemes", json={"slug": "one", "name": "One vote", "rule": {"min_net_votes": 1}},
               headers=ana).raise_for_status()
        lab = c.post("/api/labels", json={"scheme": "one", "text": "thud", "lang": "en", "item_id": item},
                     headers=ben).json()
        assert c.post(f"/api/labels/{lab['id']}/votes", json={"value": 1}, headers=ben).status_code == 403
        assert c.post(f"/api/labels/{lab['id']}/accept", headers=ben).status_code in (403, 409)
        assert c.get(f"/api/labels/{lab['id']}").json()["status"] == "proposed"
        # someone else's vote is what the rule counts
        assert c.post(f"/api/labels/{lab['id']}/votes", json={"value": 1}, headers=ana).json()["status"] == \
            "accepted"
