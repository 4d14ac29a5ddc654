"""The same indexing code path on a Dask cluster (a real distributed.LocalCluster)."""

from pathlib import Path

import pytest

from tessera.catalog.store import Catalog
from tessera.crawlers.sources.folder import add_folder
from tessera.indexer.run import IndexParams, run_index
from tessera.indexer.store import IndexStore

distributed = pytest.importorskip("distributed")


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_index_on_a_dask_cluster(catalog: Catalog, corpus_dir: Path, tmp_path: Path) -> None:
    for name in ("bd_haus.flac", "sn_dub.flac", "ambi_choir.flac", "broken.wav"):
        add_folder(catalog, corpus_dir / name, "CC0-1.0", "Sonic Pi contributors")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        report = run_index(IndexStore(catalog.db), tmp_path / "index", IndexParams(),
                           scheduler=cluster.scheduler_address)
    assert (report.indexed, report.failed) == (3, 1)
    assert report.manifest["spaces"]["all"]["count"] == 3
    assert "cannot decode" in report.failures[0][1]
