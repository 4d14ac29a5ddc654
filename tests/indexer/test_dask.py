"""The same indexing code path on a Dask cluster (a real distributed.LocalCluster), with the audio on a
shared file system that the workers mount elsewhere: they read it through fsspec by a file:// URL."""

import shutil
from pathlib import Path

import distributed
import pytest

from tessera.catalog.store import Catalog
from tessera.crawlers.sources.folder import add_folder
from tessera.indexer.distributed import RemoteAccess
from tessera.indexer.run import IndexParams, run_index
from tessera.indexer.store import IndexStore


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_index_on_a_dask_cluster(catalog: Catalog, corpus_dir: Path, tmp_path: Path) -> None:
    folder, mount = tmp_path / "audio", tmp_path / "mnt" / "audio"
    folder.mkdir()
    for name in ("bd_haus.flac", "sn_dub.flac", "ambi_choir.flac", "broken.wav"):
        shutil.copy(corpus_dir / name, folder / name)
    add_folder(catalog, folder, "CC0-1.0", "Sonic Pi contributors")
    shutil.copytree(folder, mount)
    shutil.rmtree(folder)  # the workers see the files only where the shared file system is mounted for them
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="1GiB",
                                  dashboard_address=None) as cluster:
        report = run_index(IndexStore(catalog.db), tmp_path / "index", IndexParams(),
                           scheduler=cluster.scheduler_address,
                           remote=RemoteAccess(path_map={str(folder): mount.as_uri()}))
    assert (report.indexed, report.failed) == (3, 1), report.failures
    assert report.manifest["spaces"]["all"]["count"] == 3
    assert "cannot decode" in report.failures[0][1]
