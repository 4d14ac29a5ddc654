"""Datasets through the API on a real indexed catalogue; export, Croissant, AudioFolder, fetch script."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tessera.catalog.store import Catalog
from tessera.catalog.visibility import OPERATOR
from tessera.datasets.export import export
from tessera.datasets.export_links import Links
from tessera.datasets.store import DatasetStore
from tests.search.conftest import indexed  # noqa: F401  (package fixture shared with search tests)

AUTH = {"Authorization": "Bearer test-editor-token"}
Indexed = tuple[TestClient, dict[str, int], Path]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", root
    srv.shutdown()
    srv.server_close()


def test_dataset_api_versions_and_export(indexed: Indexed, tmp_path: Path) -> None:  # noqa: F811
    client, ids, _audio = indexed
    body = {"name": "Kicks from a query", "description": "Kick drums for a drum-machine study",
            "notes": "picked by similarity to bd_haus, clipped ones out",
            "from_query": {"items": [ids["bd_haus"]], "filters": {"q": "bd"}, "limit": 3}}
    assert client.post("/api/datasets", json=body).status_code == 401
    r = client.post("/api/datasets", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["latest"]["member_count"] == 3 and d["latest"]["origin"]["kind"] == "query"
    r = client.post(f"/api/datasets/{d['id']}/members", headers=AUTH,
                    json={"add": [{"item_id": ids["sn_dub"]}], "remove": [{"item_id": d["latest"]["members"][0]
                                                                          ["item_id"]}], "notes": "a snare"})
    assert r.status_code == 201 and r.json()["version"] == 2
    vs = client.get(f"/api/datasets/{d['id']}/versions").json()
    assert [v["version"] for v in vs["items"]] == [1, 2]
    assert client.get(f"/api/datasets/{d['id']}/licence").json()["commercial_use"] is True
    r = client.get(f"/api/datasets/{d['id']}/export", params={"version": 1})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    for f in ("manifest.csv", "manifest.jsonl", "ATTRIBUTION.md", "DATASHEET.md", "croissant.json",
              "metadata.csv", "fetch.py", "LICENCES.json"):
        assert f"kicks-from-a-query/{f}" in names
    assert not any("/audio/" in n for n in names)
    # errors are JSON
    assert client.get("/api/datasets/99999").status_code == 404
    assert client.get(f"/api/datasets/{d['id']}/export", params={"version": 9}).status_code == 404
    assert client.post("/api/datasets", json={"name": ""}, headers=AUTH).status_code == 422
    r = client.post(f"/api/datasets/{d['id']}/members", json={"add": [{"item_id": 424242}]}, headers=AUTH)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert client.get("/api/datasets").json()["total"] >= 1


def test_export_croissant_audiofolder_fetch(indexed: Indexed, tmp_path: Path,  # noqa: F811
                                            served: tuple[str, Path]) -> None:
    client, ids, audio = indexed
    catalog: Catalog = client.app.state.services.catalog(OPERATOR)  # type: ignore[attr-defined]
    base, www = served
    names = ["bd_haus", "sn_dub", "ambi_choir"]
    st = DatasetStore(catalog.db, OPERATOR)
    from tessera.datasets.store import MemberIn

    d = st.create("Export test", [MemberIn(ids[n]) for n in names], "Testing exports", "curated by a test")
    out = tmp_path / "export"
    # folder files are linked to the server's audio under its public URL (mirrored below by a static server)
    rep = export(st.export_bundle(d.id), out, with_audio=False, links=Links("http://tessera.invalid/"))
    assert rep.members == 3 and rep.bundled == 0
    rows = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert {r["md5"] for r in rows} == {hashlib.md5((audio / f"{n}.flac").read_bytes()).hexdigest() for n in names}
    assert all(r["licence_spdx"] == "CC-BY-4.0" and r["attribution"] for r in rows)
    assert "## Composition" in (out / "DATASHEET.md").read_text()
    assert (out / "ATTRIBUTION.md").read_text().count("- **") == 3

    import mlcroissant as mlc

    ds = mlc.Dataset(jsonld=out / "croissant.json")
    assert ds.metadata.name == "export-test"
    recs = list(ds.records("members"))
    assert len(recs) == 3

    assert {r["url"] for r in rows} == {f"http://tessera.invalid/api/items/{ids[n]}/audio" for n in names}
    # fetch script: mirror override, downloads, verifies; then a bad checksum is reported
    for n in names:
        (www / "api" / "items" / str(ids[n])).mkdir(parents=True)
        shutil.copy(audio / f"{n}.flac", www / "api" / "items" / str(ids[n]) / "audio")
    run = subprocess.run([sys.executable, str(out / "fetch.py"), "--base-url", base, "--retries", "0"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "3 verified, 0 failed" in run.stdout
    again = subprocess.run([sys.executable, str(out / "fetch.py"), "--base-url", base], capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 0 and "3 verified" in again.stdout  # resumable: nothing fetched twice

    # AudioFolder loads once the audio is present
    datasets = pytest.importorskip("datasets")
    hf = datasets.load_dataset("audiofolder", data_dir=str(out), split="train")
    assert len(hf) == 3 and set(hf.column_names) >= {"audio", "file_id", "attribution"}

    # a corrupted source file is reported
    bad = next(iter((out / "audio").iterdir()))
    bad.unlink()
    (www / "api" / "items" / bad.name.split("_", 1)[0] / "audio").write_bytes(b"not the same bytes")
    run = subprocess.run([sys.executable, str(out / "fetch.py"), "--base-url", base, "--retries", "0"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "md5 checksum mismatch" in run.stderr and bad.name in run.stderr

    # with audio: bundled verbatim; zip output
    rep = export(st.export_bundle(d.id), tmp_path / "with-audio.zip", with_audio=True)
    assert rep.bundled == 3
    zf = zipfile.ZipFile(rep.path)
    assert sum(n.startswith("export-test/audio/") for n in zf.namelist()) == 3
    meta = list(csv.DictReader(io.StringIO(zf.read("export-test/metadata.csv").decode())))
    assert all(m["file_name"].startswith("audio/") for m in meta)
