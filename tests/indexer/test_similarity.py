"""faiss indexes on real features: exact below a size, HNSW above it with its recall measured."""

import json
from pathlib import Path

import numpy as np
import pytest

from tessera.indexer.decode import decode
from tessera.indexer.features import extract
from tessera.indexer.similarity import IndexSet, build, recall_at_10
from tessera.indexer.store import VectorSet

SAMPLES = Path("/usr/share/sonic-pi/samples")


@pytest.fixture(scope="module")
def real_vectors() -> VectorSet:
    """Vectors of 60 real recordings, plus their 30 s segments when long."""
    rows = []
    for i, path in enumerate(sorted(SAMPLES.glob("*.flac"))[:60]):
        out = extract(decode(path))
        rows.append((i + 1, -1, out.vector))
    m = np.vstack([r[2] for r in rows])
    n = len(rows)
    return VectorSet(np.array([r[0] for r in rows]), np.full(n, -1), np.zeros(n), np.ones(n), m)


def test_small_collections_are_exact(real_vectors: VectorSet, tmp_path: Path) -> None:
    manifest = build(real_vectors, tmp_path)
    for m in manifest["spaces"].values():
        assert m["index_type"] == "flat" and m["recall_at_10"] == 1.0 and m["count"] == 60


def test_large_collections_use_hnsw_with_measured_recall(real_vectors: VectorSet, tmp_path: Path) -> None:
    # 60 real vectors jittered into 3,000 (clustered like a real collection, not random)
    rng = np.random.default_rng(0)
    base = real_vectors.matrix
    reps = 50
    scale = base.std(axis=0) * 0.05 + 1e-6
    m = np.vstack([base + rng.normal(0, 1, base.shape) * scale for _ in range(reps)]).astype(np.float32)
    n = m.shape[0]
    vs = VectorSet(np.arange(1, n + 1), np.full(n, -1), np.zeros(n), np.ones(n), m)
    manifest = build(vs, tmp_path, spaces=["all", "timbre"], exact_limit=1000)
    for name in ("all", "timbre"):
        entry = manifest["spaces"][name]
        assert entry["index_type"].startswith("hnsw")
        assert entry["recall_at_10"] >= 0.95, entry["recall_at_10"]
    # persisted beside a manifest and loadable by the API's index set
    cur = (tmp_path / "CURRENT").read_text()
    on_disk = json.loads((tmp_path / "builds" / cur / "manifest.json").read_text())
    assert on_disk["spaces"]["all"]["count"] == n
    idx = IndexSet(tmp_path).space("all")
    hits = idx.search(m[0], 5, exclude_files={1})
    assert len(hits) == 5 and all(h.file_id != 1 for h in hits)


def test_recall_helper_is_one_for_exact_search(real_vectors: VectorSet) -> None:
    import faiss

    d = real_vectors.matrix.shape[1]
    flat = faiss.IndexFlatL2(d)
    flat.add(real_vectors.matrix)
    assert recall_at_10(flat, real_vectors.matrix) == 1.0
