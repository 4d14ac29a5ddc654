"""Issue 15 done-when: an export of local-folder and crawled items works off this server.

A catalogue with a local folder of real recordings (Sonic Pi samples) and files crawled from Zenodo
and the Internet Archive (the replay server of tests/crawlers plays the network: the crawled files'
URLs point at it); one member's consent withdrawn and one lapsed. The real API server runs on a free
port with TESSERA_PUBLIC_URL set to its own address; its export zip is unzipped elsewhere and the
shipped fetch.py downloads and md5-verifies every file (local ones from the server, crawled ones from
their source), `mlcroissant validate` passes, and no URL is a placeholder or a server path.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from tessera.api.app import create_app
from tessera.api.serving import uvicorn_config
from tessera.catalog.models import AudioFile, SourceRecord
from tessera.catalog.store import ItemFilter
from tessera.catalog.visibility import OPERATOR
from tessera.cli.crawl import crawl_ia, crawl_zenodo
from tessera.compose import build
from tessera.core.settings import Settings
from tessera.crawlers.sources.folder import add_folder
from tessera.datasets.export import export
from tessera.datasets.export_links import Links
from tessera.datasets.store import MemberIn
from tests.crawlers.conftest import FAST, Replay, audio_bytes, build_ia_world, build_zenodo_world
from tests.security.conftest import free_port

SAMPLES = ["bd_haus", "sn_dub", "ambi_choir"]
URL = re.compile(r"""(?:https?|file)://[^\s"'<>)`\],]+""")


@dataclass
class World:
    url: str  # the running server, also its TESSERA_PUBLIC_URL
    replay: Replay
    settings: Settings
    dataset: int
    folder: Path
    withdrawn: int
    lapsed: int
    kinds: dict[int, str]  # item id -> source kind
    titles: dict[int, str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, sonic_pi: Path) -> Iterator[World]:
    root = tmp_path_factory.mktemp("server")
    folder = root / "my recordings"  # an absolute server path that must not leak into exports
    folder.mkdir()
    for n in SAMPLES:
        shutil.copy(sonic_pi / f"{n}.flac", folder / f"{n}.flac")
    (folder / "tone.wav").write_bytes(audio_bytes("WAV", seconds=0.5, freq=880))
    replay = Replay()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TESSERA_PUBLIC_URL", url + "/")  # read from the environment, as `tessera serve` reads it
        settings = Settings(data_dir=root / "data", zenodo_url=replay.base, ia_url=replay.base)
    assert settings.public_url == url + "/"
    services = build(settings)
    catalog = services.catalog(OPERATOR)
    add_folder(catalog, folder, "CC-BY-4.0", "Sonic Pi contributors", title="My recordings",
               source_url="https://example.org/my-recordings")  # a web page: not a download URL
    build_zenodo_world(replay)
    build_ia_world(replay)
    crawl_zenodo(settings, catalog, consent=services.consent, time_scale=60, page_size=25, retry=FAST)
    crawl_ia(settings, catalog, consent=services.consent, time_scale=60, retry=FAST)
    items = catalog.list_items(ItemFilter(), 200, 0)[0]
    with services.db.session() as s:
        record_kind = {int(i): str(k) for i, k in s.execute(select(SourceRecord.id, SourceRecord.kind))}
    kinds = {f.id: record_kind[f.record_id] for f in items}
    assert set(kinds.values()) == {"folder", "zenodo", "internet_archive"}
    titles = {f.id: f.title for f in items}
    datasets = services.datasets(OPERATOR)
    d = datasets.create("Off this server", [MemberIn(i) for i in sorted(kinds)], "Local and crawled sounds",
                        created_by="curator")
    # one member's consent withdrawn, another's period ended (not yet swept): titles unique enough to look for
    withdrawn, lapsed = (next(i for i, t in titles.items() if t == n) for n in ("ID02_pd_1_2_1", "Audacity Test #3"))
    services.consent.withdraw("file", str(withdrawn), "rights holder", "asked to be removed")
    with services.db.session() as s:
        s.get(AudioFile, lapsed).consent_expires_at = datetime.now(UTC) - timedelta(days=1)  # type: ignore[union-attr]

    srv = uvicorn.Server(uvicorn_config(create_app(services), settings, "127.0.0.1", port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    for _ in range(400):  # until it listens (bounded; no timing assertion)
        if srv.started:
            break
        threading.Event().wait(0.05)
    assert srv.started, "the API server did not start"
    try:
        yield World(url, replay, settings, d.id, folder, withdrawn, lapsed, kinds, titles)
    finally:
        srv.should_exit = True
        th.join(timeout=30)
        replay.close()
        services.close()


def _unzip_export(w: World, dest: Path) -> Path:
    r = httpx.get(f"{w.url}/api/datasets/{w.dataset}/export", params={"version": 1}, timeout=60)
    assert r.status_code == 200, r.text
    zipfile.ZipFile(io.BytesIO(r.content)).extractall(dest)
    (out,) = list(dest.iterdir())
    return out


def _fetch(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(out / "fetch.py"), "--retries", "3", "--backoff", "0.05", *args],
                          capture_output=True, text=True, timeout=300, cwd=out.parent)


def _rows(out: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]


def test_export_fetches_every_file_off_the_server(world: World, tmp_path: Path) -> None:
    w = world
    out = _unzip_export(w, tmp_path / "elsewhere")
    rows = _rows(out)
    active = [r for r in rows if r["status"] == "active"]
    by_id = {r["file_id"]: r for r in active}
    assert len(rows) == len(w.kinds) and len(active) == len(w.kinds) - 2
    assert {r["file_id"]: r["status"] for r in rows if r["status"] != "active"} == {
        w.withdrawn: "withdrawn", w.lapsed: "lapsed"}
    assert all(set(r) == {"file_id", "status", "segment_id", "bundled", "note"} for r in rows
               if r["status"] != "active")  # hidden members: id and status only
    # local files from this server's audio URL; crawled files from their source (archive members: the server)
    for fid, r in by_id.items():
        if w.kinds[fid] == "folder":
            assert r["url"] == f"{w.url}/api/items/{fid}/audio" and r["url_kind"] == "server"
        else:
            assert r["url_kind"] in ("source", "server")
            assert str(r["url"]).startswith(w.replay.base if r["url_kind"] == "source" else w.url)
    assert {r["url_kind"] for r in active} == {"source", "server"}
    assert any(w.kinds[f] == "zenodo" and r["url_kind"] == "source" for f, r in by_id.items())
    assert any(w.kinds[f] == "internet_archive" and r["url_kind"] == "source" for f, r in by_id.items())
    assert any(w.kinds[f] == "zenodo" and r["url_kind"] == "server" for f, r in by_id.items())  # zip members

    # the source answers one 429 with Retry-After first: the script waits and retries
    source_path = next(str(r["url"])[len(w.replay.base):] for r in active if r["url_kind"] == "source")
    w.replay.fault(source_path, "429")
    run = _fetch(out)
    assert run.returncode == 0, run.stdout + run.stderr
    n_files = len({r["file_name"] for r in active})
    assert f"{n_files} verified, 0 failed, 2 not distributed" in run.stdout
    assert "HTTP 429 (Retry-After 1)" in run.stderr
    for r in active:
        assert hashlib.md5((out / str(r["file_name"])).read_bytes()).hexdigest() == r["md5"]
    assert not list((out / "audio").glob("*.part"))

    # Croissant validates with mlcroissant, and its records read the manifest
    v = subprocess.run([sys.executable, "-m", "mlcroissant.scripts.validate", "--jsonld",
                        str(out / "croissant.json")], capture_output=True, text=True, timeout=300)
    assert v.returncode == 0, v.stderr
    import mlcroissant as mlc

    assert len(list(mlc.Dataset(jsonld=out / "croissant.json").records("members"))) == len(rows)
    doc = json.loads((out / "croissant.json").read_text())
    assert doc["url"] == f"{w.url}/#/datasets/{w.dataset}"
    audio_objects = {o["@id"]: o for o in doc["distribution"] if o["@id"].startswith("audio/")}
    assert {(o["contentUrl"], o["md5"]) for o in audio_objects.values()} == {
        (r["url"], r["md5"]) for r in active}

    # the datasheet counts what was left out, and why, naming nothing
    sheet = (out / "DATASHEET.md").read_text()
    assert "2 member(s) left out: 1 lapsed (the consent period" in sheet and "1 withdrawn (consent withdrawn" in sheet
    assert f"from the Tessera server at {w.url}" in sheet
    # no placeholder, no server path, no hidden member's title anywhere in the export
    server_paths = [str(w.folder), str(w.folder.parent), str(w.settings.data_dir.resolve())]
    for p in out.rglob("*"):
        if not p.is_file() or p.parent.name == "audio":
            continue
        text = p.read_text(encoding="utf-8")
        assert ".invalid" not in text and "example.invalid" not in text, p.name
        assert not [s for s in server_paths if s in text], p.name
        assert "file://" not in text, p.name
        if p.name != "fetch.py":
            for fid in (w.withdrawn, w.lapsed):
                assert w.titles[fid] not in text, (p.name, w.titles[fid])
    urls = {u for p in out.iterdir() if p.is_file() and p.suffix in (".json", ".jsonl", ".csv", ".md")
            for u in URL.findall(p.read_text())}
    fetchable = {str(r["url"]) for r in active}
    assert fetchable <= urls
    assert not [u for u in urls if "127.0.0.1" in u and not u.startswith((w.url, w.replay.base))]


def test_a_corrupted_download_is_an_md5_mismatch(world: World, tmp_path: Path) -> None:
    w = world
    out = _unzip_export(w, tmp_path / "again")
    rows = [r for r in _rows(out) if r["status"] == "active" and r["url_kind"] == "source"]
    bad = rows[0]
    w.replay.fault(str(bad["url"])[len(w.replay.base):], "corrupt")  # right length, one byte wrong
    run = _fetch(out)
    assert run.returncode == 1
    assert f"FAILED {bad['file_name']} (item {bad['file_id']})" in run.stderr
    assert "md5 checksum mismatch" in run.stderr and str(bad["md5"]) in run.stderr
    assert "1 failed" in run.stdout
    assert (out / f"{bad['file_name']}.bad").exists() and not (out / str(bad["file_name"])).exists()
    # the next run fetches it again and verifies it
    again = _fetch(out)
    assert again.returncode == 0 and "0 failed" in again.stdout, again.stderr


def test_file_urls_only_when_asked_for(world: World, tmp_path: Path) -> None:
    """For this machine, local files may be linked as file:// URLs (their paths appear only then)."""
    w = world
    services = build(w.settings, migrate=False)
    try:
        b = services.datasets(OPERATOR).export_bundle(w.dataset, 1)
        rep = export(b, tmp_path / "here", links=Links(None, file_urls=True))
        rows = [r for r in _rows(rep.path) if r["status"] == "active"]
        local = [r for r in rows if r["url_kind"] == "file"]
        assert local and all(str(r["url"]).startswith("file://") for r in local)
        assert {r["file_id"] for r in local} >= {f for f, k in w.kinds.items() if k == "folder"}
        run = _fetch(rep.path, "--retries", "0")
        assert run.returncode == 0, run.stderr
        # no public URL and no file:// links: local files have no URL, and the export says so plainly
        rep = export(b, tmp_path / "nowhere")
        assert rep.unlinked == len(local)
        assert "have no download URL: the exporting server had no public URL" in (
            rep.path / "DATASHEET.md").read_text()
        doc = json.loads((rep.path / "croissant.json").read_text())
        assert "url" not in doc and ".invalid" not in json.dumps(doc)
        import mlcroissant as mlc

        assert mlc.Dataset(jsonld=rep.path / "croissant.json").metadata.name == "off-this-server"
        run = _fetch(rep.path, "--retries", "0")
        assert run.returncode == 1 and "no download URL" in run.stderr
    finally:
        services.close()


def test_a_key_for_the_server_only(world: World, tmp_path: Path) -> None:
    """A server that streams full audio only to key holders: fetch.py sends TESSERA_API_KEY to it."""
    w = world
    out = _unzip_export(w, tmp_path / "keyed")
    services = build(w.settings, migrate=False)
    try:
        services.accounts.add_user("fetcher", "editor")
        key = services.accounts.issue_key("fetcher")
        w.settings.audio_requires_key = True  # the running server reads these settings per request
        run = _fetch(out, "--retries", "0")
        assert run.returncode == 1 and "HTTP 401" in run.stderr
        failed = {ln.split()[1] for ln in run.stderr.splitlines() if ln.startswith("FAILED")}
        server = {r["file_name"] for r in _rows(out) if r["status"] == "active" and r["url_kind"] == "server"}
        assert failed == server  # crawled files still came from their source, without a key
        env = {**os.environ, "TESSERA_API_KEY": key}
        run = subprocess.run([sys.executable, str(out / "fetch.py"), "--retries", "0"], capture_output=True,
                             text=True, timeout=300, env=env)
        assert run.returncode == 0 and "0 failed" in run.stdout, run.stderr
    finally:
        w.settings.audio_requires_key = False
        services.close()
