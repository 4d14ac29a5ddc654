"""Clustering real indexed audio end to end (one session-scoped pair of runs, see conftest)."""

from __future__ import annotations

import numpy as np

from tessera.indexer.dictionary import EXTRACTOR_VERSION
from tessera.indexer.spaces import Standardiser, get_space
from tessera.indexer.store import IndexStore
from tessera.taxonomy.cluster import ClusterParams, cluster_vectors
from tessera.taxonomy.identity import CONTINUED, DISSOLVED, MERGED, SPLIT
from tests.taxonomy.conftest import RealRuns

# the session fixture indexes ~80 real recordings; UMAP's numba compile (~40-70 s) is paid once per process


def test_clusters_come_out_explained(real_runs: RealRuns) -> None:
    rep = real_runs.first
    assert rep.items >= 45 and rep.clusters >= 2
    run = real_runs.store.get_run(rep.run_id)
    assert run.items == len(run.points) == rep.items
    # unclustered items are reported, and every point is either clustered or listed as unclustered
    assert run.unclustered == len(run.unclustered_items)
    clustered = sum(c.size for c in run.clusters_detail)
    assert clustered + run.unclustered == rep.items
    for c in run.clusters_detail:
        ex = c.explanation
        assert ex.summary and ex.summary[0].isalpha(), ex
        assert len(ex.features) >= 3 and all(-1 <= f.effect <= 1 for f in ex.features)
        assert ex.licences == {"CC0-1.0": c.size}
        assert ex.total_duration > 0
        members = {p.item_id for p in run.points if p.cluster_id == c.id}
        assert c.exemplars and set(c.exemplars) <= members
    for p in run.points:
        assert np.isfinite(p.x) and np.isfinite(p.y)
    print({c.label: c.explanation.summary for c in run.clusters_detail})


def test_groups_follow_the_sound(real_runs: RealRuns) -> None:
    """Kicks and tablas are different families; most kicks should not share a cluster with most tablas."""
    run = real_runs.store.get_run(real_runs.first.run_id)
    fam: dict[int | None, dict[str, int]] = {}
    for p in run.points:
        prefix = real_runs.titles[p.item_id].split("_")[0]
        fam.setdefault(p.cluster_id, {}).setdefault(prefix, 0)
        fam[p.cluster_id][prefix] += 1
    purity = sum(max(v.values()) for k, v in fam.items() if k is not None)
    total = sum(sum(v.values()) for k, v in fam.items() if k is not None)
    assert purity / total >= 0.6, fam


def test_same_seed_same_result(real_runs: RealRuns) -> None:
    vs = IndexStore(real_runs.catalog.db).vector_set(EXTRACTOR_VERSION, segments=False)
    z = Standardiser.fit(get_space("all"), vs.matrix).transform(vs.matrix)
    a = cluster_vectors(z, ClusterParams(seed=3))
    b = cluster_vectors(z, ClusterParams(seed=3))
    assert np.array_equal(a.labels, b.labels) and np.allclose(a.coords, b.coords)


def test_second_run_keeps_accepted_labels(real_runs: RealRuns) -> None:
    store, second = real_runs.store, real_runs.second
    assert second.previous_run_id == real_runs.first.run_id
    assert second.items > real_runs.first.items
    run = store.get_run(second.run_id)
    kinds = {e.kind for e in run.lineage}
    assert kinds & {CONTINUED, SPLIT, MERGED}, run.lineage
    by_identity = {c.identity_id: c for c in run.clusters_detail}
    for label_id, identity in real_runs.accepted.items():
        lab = store.get_label(label_id)
        assert lab.status == "accepted" and lab.identity_id == identity
        if identity in by_identity:
            # the label is on the matching cluster of the new run
            assert label_id in {x.id for x in by_identity[identity].labels}
        else:
            # its identity ended: lineage says how, and the cluster it went to shows the label
            ends = [e for e in run.lineage if e.from_identity_id == identity]
            assert ends and ends[0].kind in (MERGED, DISSOLVED, SPLIT), run.lineage
            if ends[0].to_cluster_id is not None:
                shown = store.get_cluster(ends[0].to_cluster_id).related_labels
                assert label_id in {x.id for x in shown}
            if ends[0].kind == MERGED:
                # absorbed by a merge: the survivor carries the label itself, in the run details
                survivor = next(c for c in run.clusters_detail if c.id == ends[0].to_cluster_id)
                assert label_id in {x.id for x in survivor.labels}
    # every earlier identity is accounted for, and at least one carries straight on
    assert {e.from_identity_id for e in run.lineage} - {None} == set(real_runs.accepted.values())
    assert any(i in by_identity for i in real_runs.accepted.values())
