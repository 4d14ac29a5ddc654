"""A cluster's page: explanation, exemplars, labels in every scheme and language; editors propose and vote,
a steward accepts, everyone sees the history."""

from __future__ import annotations

from typing import Any

from tests.frontend.conftest import Web, open_route, shot, sign_in, wait_until


def test_cluster_page_for_everyone(page: Any, web: Web) -> None:
    cid = web.cluster_with("ambi_drone")
    c = page.request.get(f"{web.url}/api/clusters/{cid}").json()
    open_route(page, f"#/cluster/{cid}")
    # named by its accepted label, in its language
    h1 = page.locator("h1")
    assert h1.inner_text() == "ìró gígùn" and h1.get_attribute("lang") == "yo"
    assert c["explanation"]["summary"] in page.locator("main .lead").inner_text()
    # the explanation table, in the data dictionary's words
    why = page.locator("section[aria-labelledby='cl-why-h']")
    why.locator("tbody tr").first.wait_for()
    assert why.locator("tbody tr").count() == len(c["explanation"]["features"])
    first = c["explanation"]["features"][0]
    assert why.locator(f"tr[data-feature='{first['feature']}']").inner_text().count("higher" if first["effect"] > 0
                                                                                     else "lower") >= 1
    # exemplars to listen to
    ex = page.locator("section[aria-labelledby='cl-ex-h'] li.result")
    ex.first.locator("button.play").wait_for()
    assert ex.count() == len(c["exemplars"])
    audio: list[str] = []
    page.on("request", lambda r: audio.append(r.url) if r.url.endswith("/audio") else None)
    ex.first.locator("button.play").click()
    wait_until(page, lambda: any(u.endswith(f"/items/{c['exemplars'][0]}/audio") for u in audio))
    # labels from every scheme, with language tags and lang attributes
    lab = page.locator(".label-item", has_text="ìró gígùn")
    assert lab.locator(".label-text").get_attribute("lang") == "yo"
    assert lab.locator("abbr.lang-tag").inner_text() == "yo"
    assert "accepted" in lab.inner_text()
    # anonymous: no proposing or voting, but the history and a report button
    assert page.locator("form.propose").count() == 0
    assert "Editors can propose names" in page.locator("main").inner_text()
    assert lab.get_by_role("button", name="Agree with “ìró gígùn”", exact=True).count() == 0
    lab.get_by_role("button", name="History of “ìró gígùn”").click()
    hist = lab.locator(".history-list")
    hist.wait_for()
    assert "adm proposed “ìró gígùn” (yo)" in hist.inner_text()
    assert "adm accepted it" in hist.inner_text()
    # members, as playable results
    members = page.locator("section[aria-labelledby='cl-members-h'] li.result")
    members.first.wait_for()
    assert members.count() == min(20, c["size"])
    shot(page, "cluster")


def test_editor_proposes_and_votes_steward_accepts(page: Any, web: Web) -> None:
    cid = web.cluster_with("bd_haus")
    sign_in(page, "eda")
    open_route(page, f"#/cluster/{cid}")
    form = page.locator("form.propose")
    form.get_by_label("Naming scheme").select_option("studio")
    form.get_by_label("Name", exact=True).fill("thump")
    assert form.get_by_label("Language of the name").input_value() == "en"
    form.get_by_label("What it means (optional)").fill("a short low hit")
    form.get_by_label("Cultural context (optional)").fill("said by club producers")
    form.get_by_role("button", name="Propose").click()
    item = page.locator(".label-item", has_text="thump")
    item.wait_for()
    assert item.locator(".label-text[lang='en']").inner_text() == "thump"
    assert "proposed" in item.inner_text() and "a short low hit" in item.inner_text()
    # a second name in another language and scheme
    form = page.locator("form.propose")
    form.get_by_label("Naming scheme").select_option("yoruba")
    form.get_by_label("Name", exact=True).fill("ìlù")
    form.get_by_label("Language of the name").fill("yo")
    form.get_by_role("button", name="Propose").click()
    page.locator(".scheme[data-scheme='yoruba'] .label-text[lang='yo']", has_text="ìlù").wait_for()
    # a bad language tag: the API's message is shown
    form = page.locator("form.propose")
    form.get_by_label("Name", exact=True).fill("bad")
    form.get_by_label("Language of the name").fill("not a tag!")
    form.get_by_role("button", name="Propose").click()
    page.locator(".propose-out [role=alert]", has_text="BCP 47").wait_for()

    # her own label: the proposer neither votes on it nor accepts it (and is not a steward anyway)
    item = page.locator(".label-item", has_text="thump")
    assert item.get_by_role("button", name="Agree with “thump”", exact=True).count() == 0
    assert item.get_by_role("button", name="Accept “thump”").count() == 0
    item.get_by_role("button", name="History of “thump”").click()
    hist = item.locator(".history-list")
    hist.wait_for()
    assert "eda proposed “thump” (en)" in hist.inner_text()
    shot(page, "cluster-editor")

    # the steward of "studio" accepts it
    page.get_by_role("button", name="Sign out").click()
    page.locator("#account a", has_text="Sign in").wait_for()
    sign_in(page, "stew")
    open_route(page, f"#/cluster/{cid}")
    # vote: the net count changes
    page.locator(".label-item", has_text="thump").get_by_role("button", name="Agree with “thump”",
                                                               exact=True).click()
    page.locator(".label-item", has_text="thump").locator(".votes", has_text="1 net vote").wait_for()
    item = page.locator(".label-item", has_text="thump")
    item.get_by_role("button", name="Accept “thump”").click()
    page.locator(".label-item", has_text="thump").locator(".status-badge", has_text="accepted").wait_for()
    # the cluster now carries that name (English is the reader's language)
    open_route(page, f"#/cluster/{cid}")
    assert page.locator("h1").inner_text() == "thump"

    # the Yorùbá scheme accepts by two net votes: the steward's vote is the first, an admin may accept anyway
    yo = page.locator(".label-item", has_text="ìlù")
    assert yo.get_by_role("button", name="Accept “ìlù”").count() == 0
    yo.get_by_role("button", name="Agree with “ìlù”", exact=True).click()
    page.locator(".label-item", has_text="ìlù").locator(".votes", has_text="1 net vote").wait_for()
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, "adm")
    open_route(page, f"#/cluster/{cid}")
    page.locator(".label-item", has_text="ìlù").get_by_role("button", name="Accept “ìlù”").click()
    page.locator(".label-item", has_text="ìlù").locator(".status-badge", has_text="accepted").wait_for()
