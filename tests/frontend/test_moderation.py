"""Reports from anyone; the moderators' queue and what they do about it; how rights holders withdraw consent."""

from __future__ import annotations

from typing import Any

from tests.frontend.conftest import Web, open_route, shot, sign_in


def test_report_queue_and_resolutions(page: Any, web: Web) -> None:
    # anyone reports an item, and a label
    victim = web.ids["misc_burp"]
    open_route(page, f"#/item/{victim}")
    page.get_by_role("button", name="Report this item").click()
    page.get_by_label("It is harmful or offensive").check()
    page.get_by_label("More details (optional)").fill("I made this recording and withdraw my consent.")
    page.get_by_role("button", name="Send report").click()
    page.locator(".report .msg.ok", has_text="Thank you").wait_for()

    cid = web.cluster_with("ambi_glass_hum")
    sign_in(page, "eda")
    open_route(page, f"#/cluster/{cid}")
    form = page.locator("form.propose")
    form.get_by_label("Naming scheme").select_option("studio")
    form.get_by_label("Name", exact=True).fill("an insult")
    form.get_by_role("button", name="Propose").click()
    item = page.locator(".label-item", has_text="an insult")
    item.wait_for()
    label_id = int(item.get_attribute("data-label-id"))
    item.get_by_role("button", name="Report").click()
    item.get_by_label("It is culturally sensitive").check()
    item.get_by_role("button", name="Send report").click()
    item.locator(".msg.ok", has_text="Thank you").wait_for()

    # an editor may not see the queue: no link, and the page says so
    assert page.locator("nav a[href='#/moderation']").is_hidden()
    open_route(page, "#/moderation")
    assert "Only moderators can see the reports." in page.locator("main").inner_text()

    # a moderator sees the queue
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, "mod")
    assert page.locator("nav a[href='#/moderation']").is_visible()
    page.locator("nav a[href='#/moderation']").click()
    page.locator("li.report-item", has_text="misc_burp").wait_for()
    page.locator("li.report-item", has_text="an insult").wait_for()
    text = page.locator("ol.reports").inner_text()
    assert "I made this recording and withdraw my consent." in text
    assert "misc_burp" in text and "an insult" in text
    shot(page, "moderation")

    # remove the reported label
    rep = page.locator("li.report-item", has_text="an insult")
    rep.get_by_label("Remove the name").check()
    rep.get_by_label("Note (kept in the audit log)").fill("not a description of the sound")
    rep.get_by_role("button", name="Resolve").click()
    rep.locator(".msg.ok", has_text="resolved").wait_for()
    assert page.request.get(f"{web.url}/api/labels/{label_id}").json()["status"] == "removed"

    # withdraw the reported item everywhere (after confirming)
    page.once("dialog", lambda d: d.accept())
    rep = page.locator("li.report-item", has_text="misc_burp")
    rep.get_by_label("Withdraw the sound everywhere").check()
    rep.get_by_role("button", name="Resolve").click()
    rep.locator(".msg.ok", has_text="resolved").wait_for()
    assert page.request.get(f"{web.url}/api/items/{victim}").status == 404
    open_route(page, f"#/item/{victim}")
    assert "Sound not found" in page.locator("h1").inner_text()

    # other open reports (e.g. from other tests) can be dismissed
    open_route(page, "#/moderation")
    while page.locator("li.report-item form.resolve").count():
        rid = page.locator("li.report-item").filter(has=page.locator("form.resolve")).first.get_attribute(
            "data-report-id")
        rep = page.locator(f"li.report-item[data-report-id='{rid}']")
        rep.get_by_label("Dismiss: nothing is wrong").check()
        rep.get_by_role("button", name="Resolve").click()
        rep.locator(".msg.ok").wait_for()
    open_route(page, "#/moderation")
    assert "No reports here." in page.locator("main").inner_text()
    page.get_by_label("Show").select_option("resolved")
    page.locator("li.report-item", has_text="misc_burp").wait_for()
    # the audit log: who did what, when
    page.locator("details.audit summary").click()
    audit = page.locator(".audit-list")
    audit.wait_for()
    assert f"mod: report_resolved (item #{victim})" in audit.inner_text()
    assert f"mod: report_resolved (label #{label_id})" in audit.inner_text()


def test_consent_page_in_plain_words(page: Any, web: Web) -> None:
    open_route(page, "#/map")
    page.locator("footer").get_by_role("link", name="How to withdraw consent").click()
    page.locator("h1", has_text="Withdraw consent").wait_for()
    text = page.locator("main").inner_text()
    for words in ("Report this item", "disappears everywhere", "gets a new version", "audit log",
                  "but not the recording or its content"):
        assert words in text, words
    shot(page, "consent")
