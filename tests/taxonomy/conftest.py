"""Taxonomy fixtures. UMAP's numba code compiles once per process (~40 s), so the real-audio
clustering is done once per session, on a real SQLite catalogue of real sonic-pi samples."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tessera.catalog.store import Catalog, ItemFilter
from tessera.catalog.visibility import OPERATOR
from tessera.core.db import Database
from tessera.core.settings import Settings
from tessera.crawlers.sources.folder import add_folder
from tessera.indexer.run import IndexParams, run_index
from tessera.indexer.store import IndexStore
from tessera.taxonomy.cluster import ClusterParams
from tessera.taxonomy.service import RunReport, run_clustering
from tessera.taxonomy.store import TaxonomyStore

FIRST = ("bd_", "ambi_", "tabla_")
SECOND = ("elec_", "guit_", "sn_")


@dataclass
class RealRuns:
    settings: Settings
    catalog: Catalog
    store: TaxonomyStore
    first: RunReport
    second: RunReport
    accepted: dict[int, int]  # label id -> identity id, accepted after the first run
    titles: dict[int, str]  # file id -> title


def _copy(src: Path, dst: Path, prefixes: tuple[str, ...]) -> None:
    dst.mkdir(parents=True)
    for f in sorted(src.glob("*.flac")):
        if f.name.startswith(prefixes):
            shutil.copy(f, dst / f.name)


@pytest.fixture(scope="session")
def real_runs(tmp_path_factory: pytest.TempPathFactory, sonic_pi: Path) -> RealRuns:
    """Cluster ~50 real recordings, name every cluster, add ~33 more recordings, cluster again."""
    root = tmp_path_factory.mktemp("taxonomy")
    settings = Settings(data_dir=root / "data", editor_token="test-editor-token")
    settings.ensure_dirs()
    db = Database(settings.db_url)
    db.migrate()
    catalog, store = Catalog(db, OPERATOR), TaxonomyStore(db, OPERATOR)
    _copy(sonic_pi, root / "a", FIRST)
    _copy(sonic_pi, root / "b", SECOND)
    add_folder(catalog, root / "a", "CC0-1.0", "Sonic Pi contributors")
    run_index(IndexStore(catalog.db), root / "index", IndexParams(), workers=1)
    params = ClusterParams(seed=7)
    first = run_clustering(IndexStore(catalog.db), store, params, created_by="tester")
    store.add_scheme("listeners", "Listeners' words", {"min_net_votes": 1}, "tester", community="test listeners")
    accepted: dict[int, int] = {}
    run = store.get_run(first.run_id)
    for c in run.clusters_detail:
        lab = store.propose_label("listeners", f"group {c.label}", "en", "alice", cluster_id=c.id)
        store.vote(lab.id, "bob", 1)  # net 1 reaches the rule: accepted
        accepted[lab.id] = c.identity_id
    add_folder(catalog, root / "b", "CC-BY-4.0", "Sonic Pi contributors")
    run_index(IndexStore(catalog.db), root / "index", IndexParams(), workers=1)
    second = run_clustering(IndexStore(catalog.db), store, params, created_by="tester")
    items, _ = catalog.list_items(ItemFilter(), 500, 0)
    return RealRuns(settings, catalog, store, first, second, accepted, {i.id: i.title for i in items})
