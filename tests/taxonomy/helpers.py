"""Building runs directly through the store (no UMAP): files are real catalogue rows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tessera.catalog.store import Catalog, FileIn, RecordIn
from tessera.taxonomy.identity import match_identities
from tessera.taxonomy.store import ClusterIn, LineageIn, TaxonomyStore


def make_files(catalog: Catalog, n: int, start: int = 0) -> list[int]:
    rec = catalog.upsert_record(RecordIn("folder", "/tmp/taxonomy-test", "test", "CC0-1.0", creator="t"))
    return [catalog.add_file(rec, FileIn(f"f{i}.wav", f"{i:032x}", 100, duration=1.5))[0]
            for i in range(start, start + n)]


def save(store: TaxonomyStore, file_ids: Sequence[int], labels: Sequence[int], space: str = "all") -> int:
    """Save a run with these labels, matched against the previous run of the space as the service does."""
    lab = np.asarray(labels, dtype=np.int64)
    current = {int(c): {f for f, x in zip(file_ids, lab, strict=True) if x == c} for c in sorted(set(lab) - {-1})}
    prev_id = store.latest_run_id(space)
    prev, universe = store.run_memberships(prev_id) if prev_id else ({}, set())
    plan = match_identities(prev, current, universe, set(file_ids))
    clusters = [ClusterIn(c, len(m), 1.5 * len(m), {"summary": f"group {c}", "features": []}, sorted(m)[:3])
                for c, m in current.items()]
    coords = np.column_stack([np.arange(len(lab), dtype=float), lab.astype(float)])
    return store.save_run(space, "v-test", {"seed": 1}, list(file_ids), lab, np.where(lab >= 0, 0.9, 0.0), coords,
                          clusters, plan.continues,
                          [LineageIn(e.kind, e.from_identity, e.to_label, e.overlap) for e in plan.lineage],
                          prev_id, "tester")
