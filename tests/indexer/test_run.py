"""An indexing run end to end on a real folder, on SQLite and PostgreSQL."""

import json
from pathlib import Path

import numpy as np

from tessera.catalog.store import Catalog, ItemFilter
from tessera.crawlers.sources.folder import add_folder
from tessera.indexer.run import IndexParams, run_index
from tessera.indexer.similarity import IndexSet
from tessera.indexer.store import IndexStore


def test_index_run(catalog: Catalog, corpus_dir: Path, tmp_path: Path) -> None:
    rep = add_folder(catalog, corpus_dir, "CC0-1.0", "Sonic Pi contributors")
    assert rep.found == 18 and rep.added == 18
    assert [f for f, _ in rep.unreadable] == ["broken.wav"]
    index_dir = tmp_path / "index"
    report = run_index(IndexStore(catalog.db), index_dir, IndexParams(), workers=2)
    assert report.total == 18
    assert report.indexed == 16 and report.failed == 2
    reasons = dict(IndexStore(catalog.db).failed_files()[i][1:] for i in range(2))
    assert "cannot decode" in reasons["broken.wav"]
    assert "silent" in reasons["silence.wav"]
    manifest = json.loads((index_dir / "builds" / (index_dir / "CURRENT").read_text() / "manifest.json").read_text())
    assert set(manifest["spaces"]) == {"all", "timbre", "rhythm", "tonal"}
    allspace = manifest["spaces"]["all"]
    assert allspace["files"] == 16 and allspace["segments"] == 3 and allspace["count"] == 19
    assert allspace["extractor_version"] and allspace["dimension"] > 50

    # incremental: nothing new, nothing redone
    again = run_index(IndexStore(catalog.db), index_dir, IndexParams(), workers=1)
    assert again.total == 0

    # a kick drum's nearest neighbours are mostly kick drums
    items = {i.title: i.id for i in catalog.list_items(ItemFilter(), 100, 0)[0]}
    idx = IndexSet(index_dir).space("timbre")
    feats = catalog.get_features(items["bd_haus"])
    assert feats is not None
    hits = idx.search(np.frombuffer(feats.vector, dtype=np.float32), 3, exclude_files={items["bd_haus"]})
    names = {v: k for k, v in items.items()}
    top = [names[h.file_id] for h in hits]
    assert sum(t.startswith("bd_") for t in top) >= 2, top


def test_changed_extractor_version_reindexes(catalog: Catalog, corpus_dir: Path, tmp_path: Path) -> None:
    add_folder(catalog, corpus_dir / "bd_haus.flac", "CC0-1.0", "x")
    run_index(IndexStore(catalog.db), tmp_path / "i", IndexParams(), workers=1)
    assert IndexStore(catalog.db).files_to_index("tessera-frames-0-older") != []
