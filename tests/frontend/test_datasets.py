"""The dataset builder: a basket filled from anywhere, a dataset made from it, its licence summary, versions,
members added and removed, and the export of any version."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from tests.frontend.conftest import Web, open_route, shot, sign_in, wait_hash


def test_basket_dataset_versions_licence_export(page: Any, web: Web) -> None:
    # fill the basket from search results, an item page and a cluster page
    open_route(page, "#/search?q=bd_haus")
    hit = page.locator("li.result", has_text="bd_haus")
    hit.get_by_role("button", name="Add bd_haus to the dataset basket").click()
    open_route(page, f"#/item/{web.ids['guit_e_fifths']}")
    page.locator(".item-head button.basket-btn").click()
    open_route(page, f"#/item/{web.long_id}")
    page.locator("ol.segments li").first.locator("button.basket-btn").click()
    assert "3 in basket" in page.locator("#basket-count").inner_text()

    # anonymous: sees the basket, is told that editors make datasets
    open_route(page, "#/datasets")
    basket = page.locator("ul.basket-list li")
    assert basket.count() == 3
    assert "Editors can make datasets" in page.locator("main").inner_text()
    # remove one from the basket
    page.get_by_role("button", name="Remove bd_haus from the dataset basket").click()
    assert page.locator("ul.basket-list li").count() == 2

    sign_in(page, "eda")
    open_route(page, "#/datasets")
    page.get_by_label("Name", exact=True).fill("Guitar and drums")
    page.get_by_label("Purpose").fill("Testing the web app")
    page.get_by_label("Notes").fill("Picked by ear")
    page.get_by_role("button", name="Save as a dataset").click()
    wait_hash(page, "#/datasets/")
    assert page.locator("h1").inner_text() == "Guitar and drums"
    dsid = int(page.evaluate("location.hash").split("/")[2])
    assert page.evaluate("JSON.parse(localStorage.getItem('tessera.basket'))") == []

    # the licence summary: CC0 + CC BY -> commercial use allowed, attribution required
    lic = page.locator(".licence-summary")
    lic.wait_for()
    text = lic.inner_text()
    api = page.request.get(f"{web.url}/api/datasets/{dsid}/licence").json()
    assert api["summary"] in text and "Attribution required." in text
    assert "CC-BY-4.0: 1" in text and "CC0-1.0: 1" in text
    members = page.locator(".members-form .member-list li")
    assert members.count() == 2
    members.filter(has_text="guit_e_fifths").wait_for()

    # add two more through the basket -> version 2
    open_route(page, "#/search?q=vinyl")
    for t in ("vinyl_hiss", "vinyl_scratch"):
        page.get_by_role("button", name=f"Add {t} to the dataset basket").click()
    open_route(page, f"#/datasets/{dsid}")
    page.get_by_label("Add the 2 sounds in your basket").check()
    page.get_by_label("What changed (notes)").fill("two vinyl noises")
    page.get_by_role("button", name="Save a new version").click()
    wait_hash(page, "?v=2")
    assert page.locator("table.versions tbody tr").count() == 2
    assert "two vinyl noises" in page.locator("table.versions tr[data-version='2']").inner_text()
    lic = page.locator(".licence-summary")
    lic.wait_for()
    assert "No commercial use." in lic.inner_text()  # the NC members change what the set allows

    # remove one member -> version 3
    page.locator(".members-form .member-list li", has_text="vinyl_scratch").wait_for()
    hiss = web.ids["vinyl_hiss"]
    page.get_by_label(f"Select sound #{hiss} for removal").check()
    page.get_by_label("What changed (notes)").fill("hiss is too long")
    page.get_by_role("button", name="Save a new version").click()
    wait_hash(page, "?v=3")
    assert page.locator(".members-form .member-list li").count() == 3
    assert page.locator(f".members-form .member-list li[data-item-id='{hiss}']").count() == 0
    shot(page, "dataset")

    # export any version: a zip
    link = page.get_by_role("link", name="Download version 2 as a zip file")
    href = link.get_attribute("href")
    assert href == f"/api/datasets/{dsid}/export?version=2"
    with page.expect_download() as dl:
        link.click()
    data = Path(dl.value.path()).read_bytes()
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert names and any("ATTRIBUTION" in n for n in names), names

    # the list of datasets links to it
    open_route(page, "#/datasets")
    page.get_by_role("link", name="Guitar and drums").click()
    wait_hash(page, f"#/datasets/{dsid}", exact=True)
