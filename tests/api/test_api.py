"""The JSON API against a real indexed catalogue (SQLite file, real audio, real faiss)."""

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
def client(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Iterator[TestClient]:
    data = tmp_path_factory.mktemp("api-data")
    settings = Settings(data_dir=data, rate_limit_anonymous=10**6, anonymous_max_page_size=200)
    settings.ensure_dirs()
    db = Database(settings.db_url)
    db.migrate()
    catalog = Catalog(db, OPERATOR)
    add_folder(catalog, corpus_dir, "CC-BY-4.0", "Sonic Pi contributors", title="Sonic Pi samples",
               source_url="https://example.org/sonic-pi")
    run_index(IndexStore(catalog.db), settings.index_dir, IndexParams(), workers=1)
    db.dispose()
    with TestClient(create_app(build(settings))) as c:
        yield c


def _ids(client: TestClient) -> dict[str, int]:
    body = client.get("/api/items?limit=100").json()
    return {i["title"]: i["id"] for i in body["items"]}


def test_health_and_openapi(client: TestClient) -> None:
    h = client.get("/health").json()
    # the index's row counts are for staff (they include protocol-restricted rows); the public sees the spaces
    assert h["status"] == "ok" and h["index"]["build"] and h["index"]["spaces"] == dict.fromkeys(
        ("all", "timbre", "rhythm", "tonal"), None)
    spec = client.get("/openapi.json").json()
    assert "/api/items/{item_id}/similar" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_list_is_paginated_with_envelope(client: TestClient) -> None:
    first = client.get("/api/items?limit=5").json()
    assert first["total"] == 18 and first["limit"] == 5 and first["offset"] == 0 and len(first["items"]) == 5
    assert first["next"] and "offset=5" in first["next"]
    second = client.get("/api/items?limit=5&offset=5").json()
    assert {i["id"] for i in first["items"]}.isdisjoint({i["id"] for i in second["items"]})
    last = client.get("/api/items?limit=5&offset=15").json()
    assert last["next"] is None and len(last["items"]) == 3


def test_filters(client: TestClient) -> None:
    assert client.get("/api/items?licence=CC-BY-4.0").json()["total"] == 18
    assert client.get("/api/items?licence=cc-by-4.0").json()["total"] == 18
    assert client.get("/api/items?licence=CC0-1.0").json()["total"] == 0
    assert client.get("/api/items?source=zenodo").json()["total"] == 0
    assert client.get("/api/items?source=folder&status=failed").json()["total"] == 2
    assert client.get("/api/items?licence_class=restricted").json()["total"] == 0


def test_item_answer_carries_licence_attribution_source(client: TestClient) -> None:
    item_id = _ids(client)["bd_haus"]
    item = client.get(f"/api/items/{item_id}").json()
    assert item["licence"]["spdx"] == "CC-BY-4.0" and item["licence"]["requires"]["attribution"] is True
    assert item["attribution"].startswith('"bd_haus" by Sonic Pi contributors (https://example.org/sonic-pi)')
    assert item["source"]["kind"] == "folder" and item["source"]["file_url"].endswith("/bd_haus.flac")
    assert len(item["md5"]) == 32
    assert item["features"]["onset_rate"] >= 0 and "flags" in item["quality"]
    assert item["extractor_version"]


def test_similar_kick_returns_kicks(client: TestClient) -> None:
    ids = _ids(client)
    res = client.get(f"/api/items/{ids['bd_haus']}/similar?k=3&space=timbre").json()
    titles = [n["item"]["title"] for n in res["items"]]
    assert ids["bd_haus"] not in [n["item"]["id"] for n in res["items"]]
    assert sum(t.startswith("bd_") for t in titles) >= 2, titles
    dists = [n["distance"] for n in res["items"]]
    assert dists == sorted(dists)
    # every hit says why it is close, in words over the space's feature aspects
    whys = [n["why"] for n in res["items"]]
    assert all(w and w.startswith(("similar ", "different ", "close ")) for w in whys), whys
    for space in ("all", "rhythm", "tonal"):
        assert len(client.get(f"/api/items/{ids['bd_haus']}/similar?k=4&space={space}").json()["items"]) == 4


def test_similar_can_point_to_a_segment(client: TestClient) -> None:
    ids = _ids(client)
    res = client.get(f"/api/items/{ids['bd_tek']}/similar?k=17").json()
    seg_hits = [n for n in res["items"] if n["segment_id"] is not None]
    assert seg_hits and all(n["end"] > n["start"] for n in seg_hits)
    assert {n["item"]["title"] for n in seg_hits} == {"long_mix"}


def test_errors_are_json(client: TestClient) -> None:
    r = client.get("/api/items/999999")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    for bad in ("/api/items?limit=0", "/api/items?limit=5000", "/api/items?offset=-1", "/api/items/abc",
                "/api/items/1/similar?k=0", "/api/items/1/similar?space=genre", "/api/items?source=ftp"):
        r = client.get(bad)
        assert r.status_code == 422, bad
        assert r.json()["code"] == "invalid_request"
    failed = client.get("/api/items?status=failed").json()["items"][0]["id"]
    r = client.get(f"/api/items/{failed}/similar")
    assert r.status_code == 409 and r.json()["code"] == "not_indexed"
    assert client.get("/api/nothing-here").json()["code"] == "not_found"


def test_audio_streams_with_range(client: TestClient, corpus_dir: Path) -> None:
    item_id = _ids(client)["ambi_choir"]
    raw = (corpus_dir / "ambi_choir.flac").read_bytes()
    full = client.get(f"/api/items/{item_id}/audio")
    assert full.status_code == 200 and full.content == raw
    assert full.headers["content-type"] == "audio/flac" and full.headers["accept-ranges"] == "bytes"
    part = client.get(f"/api/items/{item_id}/audio", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == raw[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(raw)}"
    tail = client.get(f"/api/items/{item_id}/audio", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == raw[-10:]
    past = client.get(f"/api/items/{item_id}/audio", headers={"Range": f"bytes={len(raw)}-"})
    assert past.status_code == 416
    assert client.get(f"/api/items/{item_id}/audio", headers={"Range": "lines=1-2"}).status_code == 416


def test_data_dictionary_and_spaces(client: TestClient) -> None:
    d = client.get("/api/features").json()
    names = {f["name"] for f in d["features"]}
    assert {"bpm", "bpm_confidence", "tuning_deviation_cents", "loudness_integrated", "mfcc_mean_1"} <= names
    for f in d["features"]:
        assert f["unit"] and f["algorithm"] and f["meaning"]
    spaces = client.get("/api/spaces").json()["items"]
    assert {s["name"] for s in spaces} == {"all", "timbre", "rhythm", "tonal"}
    assert all(s["index"]["count"] == 19 for s in spaces)


def test_page_is_served(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and "Tessera" in r.text
    assert client.get("/static/js/app.js").status_code == 200
