"""Shared fixtures: real audio, a real SQLite file and the real local PostgreSQL."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from sqlalchemy import create_engine, text

from tessera.catalog.store import Catalog
from tessera.catalog.visibility import OPERATOR
from tessera.compose import consent_service
from tessera.consent.service import ConsentService
from tessera.core.db import Database
from tessera.core.settings import Settings

SONIC_PI = Path("/usr/share/sonic-pi/samples")
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# A small labelled set of real CC0 recordings (Debian package sonic-pi-samples).
CORPUS = [
    "bd_haus", "bd_tek", "bd_zome", "bd_fat", "bd_boom",
    "sn_dub", "sn_dolf", "sn_zome", "sn_generic",
    "ambi_choir", "ambi_drone", "ambi_glass_hum",
    "guit_harmonics", "guit_e_fifths",
]


def _pg_available() -> bool:
    try:
        eng = create_engine(PG_URL)
        with eng.connect() as c:
            c.execute(text("SELECT 1"))
        eng.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def sonic_pi() -> Path:
    if not SONIC_PI.is_dir():
        pytest.fail("Debian package sonic-pi-samples is missing: scripts/setup.sh installs it")
    return SONIC_PI


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory, sonic_pi: Path) -> Path:
    """Real samples plus a long recording, an Opus file, a corrupt file and a silent file."""
    d = tmp_path_factory.mktemp("corpus")
    for name in CORPUS:
        shutil.copy(sonic_pi / f"{name}.flac", d / f"{name}.flac")
    # a 75 s recording made of real material: long enough to be cut into segments
    # first half a drum loop, second half a drone
    parts = [sf.read(sonic_pi / f"{n}.flac", always_2d=True)[0] for n in ("loop_amen_full", "ambi_drone")]
    long = np.concatenate([np.tile(p, (int(np.ceil(38 * 44100 / len(p))), 1))[: 38 * 44100] for p in parts])
    sf.write(d / "long_mix.wav", long.astype(np.float32), 44100)
    # Opus: essentia's decoder cannot read it, libsndfile can
    guit, _ = sf.read(sonic_pi / "guit_em9.flac", always_2d=True)
    from scipy.signal import resample_poly

    guit48 = resample_poly(guit, 160, 147, axis=0)  # Opus only takes 48 kHz-family rates
    sf.write(d / "guit_em9.opus", guit48.astype(np.float32), 48000, format="OGG", subtype="OPUS")
    (d / "broken.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage that is not audio" * 3)
    sf.write(d / "silence.wav", np.zeros(44100 * 2, dtype=np.float32), 44100)
    return d


def _sqlite(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    db.migrate()
    yield db
    db.dispose()


def _postgres() -> Iterator[Database]:
    if not _pg_available():
        pytest.fail("PostgreSQL on 127.0.0.1:5432 (database test) is not reachable; .ci/run starts it")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = Database(f"{PG_URL}?options=-csearch_path%3D{schema}")
    db.migrate()
    try:
        yield db
    finally:
        db.dispose()
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The same tests run on a real SQLite file and on the real local PostgreSQL."""
    gen = _sqlite(tmp_path) if request.param == "sqlite" else _postgres()
    yield next(gen)
    for _ in gen:
        pass


@pytest.fixture
def catalog(db: Database) -> Catalog:
    """The catalogue as the operator sees it (tests of visibility build their own viewers' stores)."""
    return Catalog(db, OPERATOR)


@pytest.fixture
def consent(db: Database, settings: Settings) -> ConsentService:
    """The consent service over the test database, with every purge step wired as in production."""
    return consent_service(db, settings)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = Settings(data_dir=tmp_path / "data", editor_token="test-editor-token")
    s.ensure_dirs()
    return s


CHROMIUM = Path("/usr/bin/chromium")


def _csp_safe_wait_for_function() -> None:
    """Playwright evaluates an expression predicate with eval() in the page, which the app's
    Content-Security-Policy (script-src 'self') refuses; a function predicate is not eval'd."""
    from playwright.sync_api import Page

    page_cls = Page
    if getattr(page_cls.wait_for_function, "_csp_safe", False):
        return
    original = page_cls.wait_for_function

    def wait_for_function(self: Any, expression: str, *args: Any, **kw: Any) -> Any:
        if "=>" not in expression and not expression.lstrip().startswith(("function", "async")):
            expression = f"() => ({expression})"
        return original(self, expression, *args, **kw)

    wait_for_function._csp_safe = True  # type: ignore[attr-defined]
    page_cls.wait_for_function = wait_for_function  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Chromium for every browser test of the session (two sync Playwrights cannot run at once)."""
    _csp_safe_wait_for_function()
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: scripts/setup.sh installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--autoplay-policy=no-user-gesture-required",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"])
        yield b
        b.close()
