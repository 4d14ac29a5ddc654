"""A musician's first journey in a real browser: list, play, click "Similar", hear the neighbours."""

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from tessera.api.app import create_app
from tessera.catalog.db import Database
from tessera.catalog.settings import Settings
from tessera.catalog.store import Catalog
from tessera.crawlers.folder import add_folder
from tessera.indexer.run import IndexParams, run_index

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "tests" / "artifacts"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Iterator[str]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("web"))
    settings.ensure_dirs()
    db = Database(settings.db_url)
    db.migrate()
    catalog = Catalog(db)
    add_folder(catalog, corpus_dir, "CC0-1.0", "Sonic Pi contributors")
    run_index(catalog, settings.index_dir, IndexParams(), workers=1)
    db.dispose()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    th.join(timeout=10)


def test_click_similar_and_listen(server: str) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: scripts/setup.sh installs it")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(server + "/")
        page.wait_for_selector("#items li")
        assert "18 sounds" in page.inner_text("#count")
        kick = page.locator("#items li", has_text="bd_haus")
        # the player loads real audio from the API (Range requests included)
        duration = kick.locator("audio").evaluate(
            "a => new Promise((ok, bad) => { a.preload = 'auto'; a.onloadedmetadata = () => ok(a.duration);"
            " a.onerror = () => bad(a.error && a.error.code); a.load(); })")
        assert duration == pytest.approx(0.3, abs=0.2)
        kick.get_by_role("button", name="Find sounds similar to bd_haus").click()
        page.wait_for_selector("#neighbours li[data-item-id]")
        titles = page.locator("#neighbours li .title").all_inner_texts()
        assert len(titles) == 10 and "bd_haus" not in titles
        assert sum(t.startswith("bd_") for t in titles[:3]) >= 2, titles
        # switching the space re-queries
        page.select_option("#space", "rhythm")
        page.wait_for_function("document.querySelectorAll('#neighbours li[data-item-id]').length === 10")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "first-page-similar.png"), full_page=False)
        browser.close()
