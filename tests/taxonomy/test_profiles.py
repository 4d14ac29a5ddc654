"""Source-record profiles on real audio: a collection of kicks sounds most like another collection of kicks."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tessera.api.app import create_app
from tessera.catalog.store import Catalog
from tessera.catalog.visibility import OPERATOR
from tessera.compose import build
from tessera.core.db import Database
from tessera.core.settings import Settings
from tessera.crawlers.sources.folder import add_folder
from tessera.indexer.run import IndexParams, run_index
from tessera.indexer.store import IndexStore


@pytest.fixture(scope="module")
def profiled(tmp_path_factory: pytest.TempPathFactory, sonic_pi: Path) -> Iterator[tuple[TestClient, dict[str, int]]]:
    root = tmp_path_factory.mktemp("profiles")
    kicks = sorted(sonic_pi.glob("bd_*.flac"))
    groups = {
        "kicks-1": kicks[::2],
        "kicks-2": kicks[1::2],
        "drones": sorted(sonic_pi.glob("ambi_*.flac")),
        "tabla": sorted(sonic_pi.glob("tabla_*.flac"))[:12],
    }
    settings = Settings(data_dir=root / "data", editor_token="tok", rate_limit_anonymous=100000)
    settings.ensure_dirs()
    db = Database(settings.db_url)
    db.migrate()
    catalog = Catalog(db, OPERATOR)
    records: dict[str, int] = {}
    for name, files in groups.items():
        d = root / name
        d.mkdir()
        for f in files:
            shutil.copy(f, d / f.name)
        rep = add_folder(catalog, d, "CC0-1.0", "Sonic Pi contributors", title=name)
        records[name] = rep.record_id
    run_index(IndexStore(catalog.db), settings.index_dir, IndexParams(), workers=1)
    db.dispose()
    with TestClient(create_app(build(settings))) as client:
        yield client, records


def test_similar_records_follow_the_sound(profiled: tuple[TestClient, dict[str, int]]) -> None:
    client, records = profiled
    for space in ("all", "timbre"):
        r = client.get(f"/api/records/{records['kicks-1']}/similar", params={"space": space, "k": 3})
        assert r.status_code == 200, r.text
        body = r.json()
        names = [n["record"]["title"] for n in body["neighbours"]]
        assert names[0] == "kicks-2", (space, body)
        assert len(names) == 3 and records["kicks-1"] not in [n["record"]["id"] for n in body["neighbours"]]
        dists = [n["distance"] for n in body["neighbours"]]
        assert dists == sorted(dists)


def test_record_profile_explains_in_words(profiled: tuple[TestClient, dict[str, int]]) -> None:
    client, records = profiled
    r = client.get(f"/api/records/{records['drones']}/profile")
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["files"] == 11 and p["total_duration"] > 0
    assert p["summary"] and p["features"] and all(-1 <= f["effect"] <= 1 for f in p["features"])
    assert p["exemplars"]


def test_record_profile_errors(profiled: tuple[TestClient, dict[str, int]]) -> None:
    client, records = profiled
    assert client.get("/api/records/999999/similar").status_code == 404
    assert client.get(f"/api/records/{records['tabla']}/similar", params={"space": "nope"}).status_code == 422
    assert client.get(f"/api/records/{records['tabla']}/similar", params={"k": 0}).status_code == 422
