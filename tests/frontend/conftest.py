"""One real server for every browser test: real Sonic Pi audio, indexed and clustered once, real users and labels.

UMAP's numba compilation costs about a minute per process, so the catalogue, the indexes and the clustering
run are built once per session; each test gets a fresh browser context (empty session and local storage).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import uvicorn

from tessera.accounts.store import AccountStore
from tessera.api.app import create_app
from tessera.catalog.protocols import ProtocolStore
from tessera.catalog.store import Catalog
from tessera.catalog.visibility import OPERATOR
from tessera.compose import build
from tessera.core.db import Database
from tessera.core.settings import Settings
from tessera.crawlers.sources.folder import add_folder
from tessera.indexer.run import IndexParams, run_index
from tessera.indexer.store import IndexStore
from tessera.taxonomy.cluster import ClusterParams
from tessera.taxonomy.service import run_clustering
from tessera.taxonomy.store import TaxonomyStore

playwright = pytest.importorskip("playwright.sync_api")

SONIC_PI = Path("/usr/share/sonic-pi/samples")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
PASSWORD = "correct horse battery"

# ~40 real CC0 recordings in families that sound alike (kicks, snares, drones, bells, cymbals, tabla)
CC0 = [
    "bd_haus", "bd_tek", "bd_zome", "bd_fat", "bd_boom", "bd_808", "bd_klub", "bd_pure", "bd_sone",
    "sn_dub", "sn_dolf", "sn_zome", "sn_generic", "drum_snare_hard", "drum_snare_soft",
    "ambi_choir", "ambi_drone", "ambi_glass_hum", "ambi_dark_woosh", "ambi_haunted_hum", "ambi_lunar_land",
    "ambi_soft_buzz", "ambi_swoosh",
    "drum_cymbal_closed", "drum_cymbal_open", "drum_cymbal_hard", "drum_cymbal_soft", "drum_splash_hard",
    "elec_bell", "elec_chime", "elec_ping", "elec_triangle", "perc_bell",
    "tabla_ghe1", "tabla_ghe2", "tabla_na", "tabla_tun1", "misc_burp",
]
# a second record under CC BY (credit required) and a third under CC BY-NC (no commercial use)
CC_BY = ["guit_harmonics", "guit_e_fifths", "guit_em9"]
CC_BY_NC = ["vinyl_hiss", "vinyl_scratch"]


@dataclass
class Web:
    url: str
    settings: Settings
    ids: dict[str, int]  # title -> item id
    run_id: int
    clusters: list[dict[str, Any]]  # clusters_detail of the run
    cluster_of: dict[int, int | None]  # item id -> cluster id
    long_id: int  # a 76 s recording cut into segments
    protocol_id: int  # an item carrying a cultural protocol label
    scheme: str = "studio"
    users: dict[str, str] = field(default_factory=dict)  # name -> role

    def cluster_with(self, title: str) -> int:
        cid = self.cluster_of[self.ids[title]]
        assert cid is not None, f"{title} is not in a cluster"
        return cid


def _long_mix(path: Path) -> None:
    """76 s of real material: long enough to be cut into 30 s segments (a drum loop, then a drone)."""
    parts = [sf.read(SONIC_PI / f"{n}.flac", always_2d=True)[0] for n in ("loop_amen_full", "ambi_drone")]
    long = np.concatenate([np.tile(p, (int(np.ceil(38 * 44100 / len(p))), 1))[: 38 * 44100] for p in parts])
    sf.write(path, long.astype(np.float32), 44100)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    if not SONIC_PI.is_dir():
        pytest.fail("Debian package sonic-pi-samples is missing: scripts/setup.sh installs it")
    base = tmp_path_factory.mktemp("webapp")
    folders = {"cc0": CC0, "ccby": CC_BY, "ccbync": CC_BY_NC}
    for name, titles in folders.items():
        (base / name).mkdir()
        for t in titles:
            shutil.copy(SONIC_PI / f"{t}.flac", base / name / f"{t}.flac")
    _long_mix(base / "cc0" / "long_mix.wav")

    # generous limits: the suite is one client address making many requests quickly
    settings = Settings(data_dir=base / "data", rate_limit_anonymous=100_000, rate_limit_key=100_000,
                        rate_limit_audio_anonymous=100_000,
                        anonymous_max_points=16)  # small pages, so the map must gather every page of points
    settings.ensure_dirs()
    db = Database(settings.db_url)
    db.migrate()
    catalog = Catalog(db, OPERATOR)
    add_folder(catalog, base / "cc0", "CC0-1.0", "Sonic Pi contributors", title="Sonic Pi samples")
    add_folder(catalog, base / "ccby", "CC-BY-4.0", "Test Guitarist", title="Guitar pack",
               source_url="https://example.org/guitar-pack")
    add_folder(catalog, base / "ccbync", "CC-BY-NC-4.0", "Vinyl Club", title="Vinyl noises")
    run_index(IndexStore(catalog.db), settings.index_dir, IndexParams(), workers=1)
    rows, _ = catalog.list_items(_all_filter(), 500, 0)
    ids = {r.title: r.id for r in rows}
    taxonomy = TaxonomyStore(db, OPERATOR)
    report = run_clustering(IndexStore(catalog.db), taxonomy, ClusterParams(seed=5, min_cluster_size=3))
    run = taxonomy.get_run(report.run_id)
    cluster_of = {p.item_id: p.cluster_id for p in run.points}

    accounts = AccountStore(db)
    users = {"eda": "editor", "stew": "editor", "mod": "moderator", "adm": "admin"}
    for name, role in users.items():
        accounts.add_user(name, role)
        accounts.set_password(name, PASSWORD)
    taxonomy.add_scheme("studio", "Studio words", {"steward_approval": True}, "adm",
                        "Words producers use for sounds", "Producers", ["stew"])
    taxonomy.add_scheme("yoruba", "Yorùbá sound words", {"min_net_votes": 2}, "adm", None, "Yorùbá musicians")
    # an accepted Yorùbá name on the drones' cluster, so names in other languages show from the start
    drone_cluster = cluster_of[ids["ambi_drone"]]
    if drone_cluster is not None:
        lab = taxonomy.propose_label("yoruba", "ìró gígùn", "yo", "adm", cluster_id=drone_cluster,
                                     description="long sounds")
        taxonomy.accept(lab.id, "adm", override=True)
    moderation = ProtocolStore(db, OPERATOR)
    protocol_id = ids["tabla_na"]
    moderation.add_protocol_label("item", protocol_id, "tk_attribution", "Tabla players of the test suite",
                                  "Name the tradition when you use this sound.", "mod")
    db.dispose()

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(build(settings)), host="127.0.0.1", port=port,
                                           log_level="warning"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "the API server did not start"
    yield Web(url=f"http://127.0.0.1:{port}", settings=settings, ids=ids, run_id=report.run_id,
              clusters=[c.model_dump(mode="json") for c in run.clusters_detail], cluster_of=cluster_of,
              long_id=ids["long_mix"],
              protocol_id=protocol_id, users=users)
    server.should_exit = True
    th.join(timeout=10)


def _all_filter() -> Any:
    from tessera.catalog.store import ItemFilter

    return ItemFilter()


class Errors(list[str]):
    """Uncaught page errors: every test ends by asserting there were none."""


@pytest.fixture
def page(browser: Any, web: Web) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB",
                              permissions=["microphone"], base_url=web.url, accept_downloads=True)
    ctx.set_default_timeout(20_000)
    pg = ctx.new_page()
    errors = Errors()
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.errors = errors
    yield pg
    ctx.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def shot(page: Any, name: str, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def open_route(page: Any, hash_route: str) -> None:
    """Go to a route of the app and wait until the view has rendered (main no longer busy)."""
    same = page.url != "about:blank" and page.evaluate("h => !!window.tessera && location.hash === h", hash_route)
    if same:  # already there: draw it again, as a click on a link to the same page does
        page.evaluate("h => { delete document.querySelector('main').dataset.rendered; window.tessera.go(h); }",
                      hash_route)
    else:
        page.goto(f"/{hash_route}")
    wait_rendered(page)


def wait_rendered(page: Any) -> None:
    """Until the app has drawn the view of the current address."""
    page.wait_for_function("document.querySelector('main').dataset.rendered === location.hash")


def wait_hash(page: Any, part: str, exact: bool = False) -> None:
    """Until the address's #fragment is (or contains) `part`; then until that view has been drawn."""
    page.wait_for_function("([p, exact]) => exact ? location.hash === p : location.hash.includes(p)", arg=[part, exact])
    wait_rendered(page)


def wait_until(page: Any, cond: Any, timeout: float = 15.0) -> None:
    """Poll a Python-side condition (e.g. on recorded requests) while the page keeps running."""
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not met in time"
        page.wait_for_timeout(100)


def sign_in(page: Any, name: str, password: str = PASSWORD) -> None:
    """Through the sign-in form, as a person would."""
    open_route(page, "#/signin")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Password").fill(password)
    page.locator("form.signin-form button[type=submit]").click()
    page.wait_for_selector(f"#account .who:has-text('{name}')")
