"""A real indexed catalogue (SQLite) and the API on top of it, built once per module."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tessera.api.app import create_app
from tessera.catalog.store import Catalog, ItemFilter
from tessera.catalog.visibility import OPERATOR
from tessera.compose import build
from tessera.core.settings import Settings
from tessera.crawlers.sources.folder import add_folder
from tessera.indexer.run import IndexParams, run_index
from tessera.indexer.store import IndexStore

SAMPLES = Path("/usr/share/sonic-pi/samples")
NAMES = ["bd_haus", "bd_tek", "bd_zome", "bd_fat", "bd_boom", "sn_dub", "sn_dolf", "sn_zome",
         "ambi_choir", "ambi_drone", "ambi_glass_hum", "guit_harmonics"]


@pytest.fixture(scope="package")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, int], Path]]:
    root = tmp_path_factory.mktemp("indexed")
    audio = root / "audio"
    audio.mkdir()
    for n in NAMES:
        shutil.copy(SAMPLES / f"{n}.flac", audio / f"{n}.flac")
    settings = Settings(data_dir=root / "data", editor_token="test-editor-token", rate_limit_anonymous=10**6)
    app = create_app(build(settings))
    catalog: Catalog = app.state.services.catalog(OPERATOR)
    add_folder(catalog, audio, "CC-BY-4.0", "Sonic Pi contributors", title="Sonic Pi samples",
               description="Drum hits and ambient textures")
    run_index(IndexStore(catalog.db), settings.index_dir, IndexParams(), workers=1)
    ids = {r.title.rsplit(".", 1)[0]: r.id for r in catalog.list_items(ItemFilter(), 100, 0)[0]}
    with TestClient(app) as client:
        yield client, ids, audio
