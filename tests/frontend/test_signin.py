"""Signing in and out; the bearer token on every request; the interface shows what the role allows; the API's
401/403 messages are shown when it refuses."""

from __future__ import annotations

from typing import Any

from tessera.accounts.store import AccountStore
from tessera.core.db import Database
from tests.frontend.conftest import PASSWORD, Web, open_route, sign_in, wait_until


def test_sign_in_out_and_role_gated_interface(page: Any, web: Web) -> None:
    open_route(page, "#/map")
    page.get_by_role("link", name="Sign in").click()
    page.locator("h1", has_text="Sign in").wait_for()
    # wrong password: the API's message, and nothing stored
    page.get_by_label("Name", exact=True).fill("eda")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    page.locator(".signin-out [role=alert]", has_text="wrong name or password").wait_for()
    assert page.evaluate("sessionStorage.getItem('tessera.session')") is None

    # right password: back where we came from, named with the role; the token goes with every request
    auth: list[str | None] = []
    page.on("request", lambda r: auth.append(r.headers.get("authorization"))
            if "/api/" in r.url and not r.url.endswith("/api/login") else None)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.locator("#account .who", has_text="Signed in as eda").wait_for()
    assert "editor" in page.locator("#account .role-badge").inner_text()
    assert page.evaluate("location.hash") == "#/map"
    session = page.evaluate("JSON.parse(sessionStorage.getItem('tessera.session'))")
    assert session["user"] == {"name": "eda", "role": "editor", "communities": []}
    token = session["token"]
    wait_until(page, lambda: len(auth) > 0)
    open_route(page, "#/search")
    page.locator("li.result").first.wait_for()
    assert auth and all(a == f"Bearer {token}" for a in auth), auth
    assert page.request.get(f"{web.url}/api/me", headers={"Authorization": f"Bearer {token}"}).json()["name"] == "eda"
    # an editor sees editing tools, not the moderation queue
    assert page.locator("nav a[href='#/moderation']").is_hidden()
    # a reload keeps the session (same tab)
    page.reload()
    page.locator("#account .who", has_text="eda").wait_for()

    # sign out: the session key is revoked on the server and forgotten here
    with page.expect_request(lambda r: r.url.endswith("/api/logout") and r.method == "POST"):
        page.get_by_role("button", name="Sign out").click()
    page.locator("#account a", has_text="Sign in").wait_for()
    assert page.evaluate("sessionStorage.getItem('tessera.session')") is None
    assert page.request.get(f"{web.url}/api/me", headers={"Authorization": f"Bearer {token}"}).status == 401


def test_role_taken_away_while_signed_in_shows_the_api_refusal(page: Any, web: Web) -> None:
    accounts = AccountStore(Database(web.settings.db_url))
    accounts.add_user("demoted", "moderator")
    accounts.set_password("demoted", PASSWORD)
    sign_in(page, "demoted")
    assert page.locator("nav a[href='#/moderation']").is_visible()
    accounts.set_role("demoted", "editor")  # an admin changes the role meanwhile
    page.locator("nav a[href='#/moderation']").click()
    alert = page.locator("main [role=alert]")
    alert.wait_for()
    assert "your role (editor) may not do this; it needs moderator" in alert.inner_text()
    accounts.db.dispose()


def test_moderator_sees_the_queue_link_and_an_ended_session_is_dropped(page: Any, web: Web) -> None:
    sign_in(page, "mod")
    assert page.locator("nav a[href='#/moderation']").is_visible()
    assert "moderator" in page.locator("#account .role-badge").inner_text()
    # a session the server no longer knows (expired or revoked): the app says so and reads on as a visitor
    page.evaluate("""() => { const s = JSON.parse(sessionStorage.getItem('tessera.session'));
      s.token = 'tsr_00000000_revoked'; sessionStorage.setItem('tessera.session', JSON.stringify(s)); }""")
    page.reload()
    page.locator("#notice", has_text="Your session has ended").wait_for()
    page.locator("#account a", has_text="Sign in").wait_for()
    assert page.locator("nav a[href='#/moderation']").is_hidden()


def test_anonymous_writes_are_refused_with_the_api_message(page: Any, web: Web) -> None:
    # the datasets page offers no form to visitors; the API would refuse anyway: shown if it happens
    open_route(page, "#/datasets")
    assert page.locator("form.create-dataset").count() == 0
    msg = page.evaluate("""async () => { const { api } = await import('/static/js/api.js');
      try { await api('/api/datasets', { method: 'POST', json: { name: 'x', members: [] } }); return null; }
      catch (e) { return [e.status, e.code, e.message]; } }""")
    assert msg[0] == 401 and msg[1] == "unauthorized" and "editor role" in msg[2]
