"""Indexing on a Dask cluster whose workers reach the audio only by URL (a real distributed.LocalCluster).

The catalogue's folder is renamed away before the Dask run, so a worker that tried the registered path
would find nothing: the audio comes from a real HTTP server over another copy (or from the real Tessera
API), and the features must equal those of a local run of the same files.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn
from distributed import LocalCluster
from sqlalchemy import select

from tessera.catalog.models import AudioFile
from tessera.catalog.store import Catalog
from tessera.catalog.visibility import OPERATOR
from tessera.core.db import Database
from tessera.core.settings import Settings
from tessera.crawlers.sources.folder import add_folder
from tessera.indexer.dictionary import EXTRACTOR_VERSION
from tessera.indexer.distributed import RemoteAccess, remote_tasks
from tessera.indexer.errors import NoWorkerURL, SchedulerUnreachable
from tessera.indexer.run import IndexParams, run_index
from tessera.indexer.store import IndexStore

GOOD = ["bd_haus", "sn_dub", "ambi_choir", "guit_harmonics"]
CREATOR = "Sonic Pi contributors"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    # worker processes with their own scratch directory and a small memory budget each
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      memory_limit="1GiB", local_directory=str(tmp_path_factory.mktemp("workers"))) as c:
        yield c


class _Served:
    """A plain HTTP server over a directory, noting every path it was asked for."""

    def __init__(self, root: Path) -> None:
        self.requested: list[str] = []
        served = self

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *_a: Any) -> None:
                served.requested.append(self.path)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def http_copy(tmp_path: Path) -> Iterator[tuple[Path, _Served]]:
    root = tmp_path / "served"
    root.mkdir()
    srv = _Served(root)
    yield root, srv
    srv.close()


def _db(path: Path) -> Database:
    db = Database(f"sqlite:///{path}")
    db.migrate()
    return db


def _register(db: Database, folder: Path) -> None:
    add_folder(Catalog(db, OPERATOR), folder, "CC0-1.0", CREATOR)


def _vectors(db: Database) -> dict[str, np.ndarray]:
    vs = IndexStore(db).vector_set(EXTRACTOR_VERSION, segments=False)
    with db.session() as s:
        names = {int(r.id): r.filename for r in s.execute(select(AudioFile.id, AudioFile.filename))}
    return {names[int(fid)]: vs.matrix[i] for i, fid in enumerate(vs.file_ids)}


def _statuses(db: Database) -> dict[str, tuple[str, str | None]]:
    with db.session() as s:
        rows = s.execute(select(AudioFile.filename, AudioFile.status, AudioFile.error)).all()
    return {r.filename: (r.status, r.error) for r in rows}


def test_a_folder_reached_only_by_url_gets_the_features_of_a_local_run(
        sonic_pi: Path, tmp_path: Path, cluster: LocalCluster, http_copy: tuple[Path, _Served]) -> None:
    folder = tmp_path / "data" / "audio"
    folder.mkdir(parents=True)
    for n in GOOD:
        shutil.copy(sonic_pi / f"{n}.flac", folder / f"{n}.flac")

    local = _db(tmp_path / "local.sqlite")
    _register(local, folder)
    assert run_index(IndexStore(local), tmp_path / "index-local", IndexParams(), workers=1).indexed == len(GOOD)

    dask_db = _db(tmp_path / "dask.sqlite")
    _register(dask_db, folder)
    served_root, served = http_copy
    shutil.copytree(folder, served_root, dirs_exist_ok=True)
    folder.rename(tmp_path / "gone")  # nothing at the registered paths any more, on any machine
    remote = RemoteAccess(path_map={str(folder): served.url})

    tasks = remote_tasks(IndexStore(dask_db).files_to_index(EXTRACTOR_VERSION), remote)
    assert len(tasks) == len(GOOD)
    for t in tasks:
        assert t.url.startswith(served.url + "/")
        assert str(tmp_path) not in repr(t)  # no path of the catalogue's machine travels to a worker

    finished: list[int] = []
    report = run_index(IndexStore(dask_db), tmp_path / "index-dask", IndexParams(), scheduler=cluster.scheduler_address,
                       remote=remote, on_result=lambda fid, _err: finished.append(fid))
    assert (report.indexed, report.failed) == (len(GOOD), 0), report.failures
    assert sorted(finished) == sorted(t.file_id for t in tasks)
    assert report.manifest["spaces"]["all"]["count"] == len(GOOD)
    assert sorted(served.requested) == sorted(f"/{n}.flac" for n in GOOD)

    want, got = _vectors(local), _vectors(dask_db)
    assert sorted(got) == sorted(want) == sorted(f"{n}.flac" for n in GOOD)
    for name, vec in want.items():
        np.testing.assert_allclose(got[name], vec, rtol=1e-4, atol=1e-5, err_msg=name)


def test_a_missing_url_and_a_changed_file_fail_alone(
        sonic_pi: Path, corpus_dir: Path, tmp_path: Path, cluster: LocalCluster,
        http_copy: tuple[Path, _Served]) -> None:
    folder = tmp_path / "audio"
    folder.mkdir()
    for n in ("bd_haus", "sn_dub", "bd_tek"):
        shutil.copy(sonic_pi / f"{n}.flac", folder / f"{n}.flac")
    shutil.copy(corpus_dir / "broken.wav", folder / "broken.wav")
    db = _db(tmp_path / "catalog.sqlite")
    _register(db, folder)

    served_root, served = http_copy
    shutil.copytree(folder, served_root, dirs_exist_ok=True)
    (served_root / "sn_dub.flac").unlink()  # 404
    shutil.copy(sonic_pi / "bd_zome.flac", served_root / "bd_tek.flac")  # real audio, not the registered bytes
    folder.rename(tmp_path / "gone")

    report = run_index(IndexStore(db), tmp_path / "index", IndexParams(), scheduler=cluster.scheduler_address,
                       remote=RemoteAccess(path_map={str(folder): served.url}))
    assert (report.indexed, report.failed) == (1, 3), report.failures
    st = _statuses(db)
    assert st["bd_haus.flac"] == ("indexed", None)
    status, err = st["sn_dub.flac"]
    assert status == "failed" and err == f"not found at {served.url}/sn_dub.flac (HTTP 404)"
    status, err = st["bd_tek.flac"]
    assert status == "failed" and err is not None
    assert "changed since it was registered" in err and "not indexed" in err
    status, err = st["broken.wav"]
    assert status == "failed" and err is not None and "cannot decode" in err
    assert report.manifest["spaces"]["all"]["count"] == 1


def test_an_unreachable_scheduler_fails_at_start_and_changes_nothing(sonic_pi: Path, tmp_path: Path) -> None:
    folder = tmp_path / "audio"
    folder.mkdir()
    for n in GOOD[:2]:
        shutil.copy(sonic_pi / f"{n}.flac", folder / f"{n}.flac")
    db = _db(tmp_path / "catalog.sqlite")
    _register(db, folder)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    with pytest.raises(SchedulerUnreachable) as exc:
        run_index(IndexStore(db), tmp_path / "index", IndexParams(), scheduler=f"tcp://127.0.0.1:{port}",
                  remote=RemoteAccess(path_map={str(folder): "http://127.0.0.1:9"}, connect_timeout=1))
    assert "TESSERA_DASK_SCHEDULER" in exc.value.message and "--scheduler" in exc.value.message
    assert f"tcp://127.0.0.1:{port}" in exc.value.message
    assert set(_statuses(db).values()) == {("pending", None)}
    assert not (tmp_path / "index").exists()


def test_files_no_url_reaches_are_refused_before_any_change(
        sonic_pi: Path, tmp_path: Path, cluster: LocalCluster) -> None:
    folder = tmp_path / "audio"
    folder.mkdir()
    shutil.copy(sonic_pi / "bd_haus.flac", folder / "bd_haus.flac")
    db = _db(tmp_path / "catalog.sqlite")
    _register(db, folder)
    with pytest.raises(NoWorkerURL) as exc:
        run_index(IndexStore(db), tmp_path / "index", IndexParams(), scheduler=cluster.scheduler_address,
                  remote=RemoteAccess())
    for setting in ("TESSERA_DASK_PATH_MAP", "TESSERA_DASK_AUDIO_URL", "TESSERA_PUBLIC_URL"):
        assert setting in exc.value.message
    assert set(_statuses(db).values()) == {("pending", None)}


def test_workers_fetch_from_the_servers_own_audio_url(
        sonic_pi: Path, tmp_path: Path, cluster: LocalCluster) -> None:
    """The default for a local folder: TESSERA_PUBLIC_URL's /api/items/{id}/audio, from the real API."""
    from tessera.api.app import create_app
    from tessera.compose import build

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(data_dir=tmp_path / "data", public_url=f"http://127.0.0.1:{port}/")
    settings.ensure_dirs()
    svc = build(settings)
    folder = tmp_path / "audio"
    folder.mkdir()
    for n in GOOD[:2]:
        shutil.copy(sonic_pi / f"{n}.flac", folder / f"{n}.flac")
    add_folder(svc.catalog(OPERATOR), folder, "CC0-1.0", CREATOR)

    srv = uvicorn.Server(uvicorn.Config(create_app(svc), host="127.0.0.1", port=port, log_level="warning",
                                        lifespan="off"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    while not srv.started:
        time.sleep(0.02)
    try:
        assert settings.worker_audio_url == f"http://127.0.0.1:{port}/api/items/{{id}}/audio"
        report = run_index(svc.index_store, settings.index_dir, IndexParams(), scheduler=cluster.scheduler_address,
                           remote=RemoteAccess(audio_url=settings.worker_audio_url))
    finally:
        srv.should_exit = True
        th.join(10)
    assert (report.indexed, report.failed) == (2, 0), report.failures


def test_the_index_command_names_the_setting_and_leaves_files_pending(sonic_pi: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    folder = tmp_path / "music"
    folder.mkdir()
    shutil.copy(sonic_pi / "bd_haus.flac", folder / "bd_haus.flac")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "TESSERA_DATA_DIR": str(tmp_path / "data"), "OMP_NUM_THREADS": "1",
           "TESSERA_DASK_SCHEDULER": f"tcp://127.0.0.1:{port}", "TESSERA_DASK_CONNECT_TIMEOUT": "1"}
    env.pop("TESSERA_DATABASE_URL", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tessera.cli", *args], env=env, capture_output=True, text=True,
                              timeout=300)

    assert cli("add", str(folder), "--licence", "CC0-1.0", "--creator", CREATOR).returncode == 0
    r = cli("index", "--json")
    assert r.returncode != 0
    said = " ".join(r.stderr.split())  # rich wraps long lines
    assert "cannot reach the Dask scheduler" in said and "TESSERA_DASK_SCHEDULER" in said
    assert "nothing was changed" in said
    status = cli("status", "--json")
    assert '"pending": 1' in status.stdout and '"indexed"' not in status.stdout


def test_which_url_a_worker_gets() -> None:
    from tessera.indexer.distributed import locate
    from tessera.indexer.store import IndexTask

    zen = IndexTask(7, "/srv/data/cache/zenodo/1/take.flac", "m" * 32, 10, 2.0,
                    "https://zenodo.org/api/records/1/files/take.flac/content", "take.flac", "zenodo")
    member = IndexTask(8, "/srv/data/cache/zenodo/1/set_zip.d/a b.wav", "n" * 32, 10, None,
                       "https://zenodo.org/api/records/1/files/set.zip/content", "set.zip/a b.wav", "zenodo")
    folder = IndexTask(9, "/home/ana/music/x.flac", "o" * 32, 10, None, None, "x.flac", "folder")
    server = "https://tessera.example.org/api/items/{id}/audio"

    # a crawled file: its own download URL when nothing else is configured, and no key is sent there
    t = locate(zen, RemoteAccess(audio_key="secret"))
    assert t is not None and (t.url, t.bearer, t.suffix) == (zen.url, None, ".flac")
    # an archive member's URL is the whole archive's; a folder has no source URL to fetch
    assert locate(member, RemoteAccess()) is None and locate(folder, RemoteAccess()) is None
    # the server's own copy comes before the source, with the key
    t = locate(member, RemoteAccess(audio_url=server, audio_key="secret"))
    assert t is not None and (t.url, t.bearer, t.suffix) == (server.format(id=8), "secret", ".wav")
    # a mapped folder comes first; the longest root wins and http paths are quoted
    access = RemoteAccess(audio_url=server, path_map={"/srv/data": "s3://bucket/data",
                                                      "/srv/data/cache/zenodo": "https://files.example.org/z/"})
    t = locate(member, access)
    assert t is not None and (t.url, t.bearer) == ("https://files.example.org/z/1/set_zip.d/a%20b.wav", None)
    t = locate(folder, RemoteAccess(path_map={"/home/ana/music": "file:///mnt/ana"}))
    assert t is not None and t.url == "file:///mnt/ana/x.flac"
