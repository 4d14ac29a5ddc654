"""Labels of a cluster absorbed by a merge show on the surviving cluster: run details, the label
filter and export manifests (SQLite and PostgreSQL)."""

from __future__ import annotations

from tessera.catalog.store import Catalog
from tessera.catalog.visibility import OPERATOR
from tessera.core.db import Database
from tessera.datasets.store import DatasetStore, MemberIn
from tessera.search.filters import Filters
from tessera.search.store import SearchStore
from tessera.taxonomy.store import TaxonomyStore
from tests.taxonomy.helpers import make_files, save


def test_absorbed_labels_follow_the_survivor(db: Database, catalog: Catalog) -> None:
    store = TaxonomyStore(db, OPERATOR)
    f = make_files(catalog, 30)
    r1 = save(store, f, [0] * 12 + [1] * 10 + [2] * 8)
    c = {x.label: x for x in store.get_run(r1).clusters_detail}
    store.add_scheme("s", "S", {"min_net_votes": 1}, "ed")
    names = {0: ("bruma", "es"), 1: ("Nebel", "de"), 2: ("haze", "en")}
    for lab, (text, lang) in names.items():
        la = store.propose_label("s", text, lang, "ed", cluster_id=c[lab].id)
        store.vote(la.id, "v", 1)
    # run 2: 0 and 1 merge (0 survives, it is larger); 2 continues
    r2 = save(store, f, [0] * 22 + [1] * 8)
    run2 = store.get_run(r2)
    merged = {x.identity_id: x for x in run2.clusters_detail}
    survivor = merged[c[0].identity_id]
    assert c[1].identity_id not in merged  # the absorbed identity ends
    assert sorted((x.text, x.inherited_from_identity_id) for x in survivor.labels) == [
        ("Nebel", c[1].identity_id), ("bruma", None)]
    assert [x.text for x in merged[c[2].identity_id].labels] == ["haze"]
    # run 3: everything merges; labels follow transitively (Nebel came via bruma's identity)
    r3 = save(store, f, [0] * 30)
    only = store.get_run(r3).clusters_detail[0]
    assert only.identity_id == c[0].identity_id
    assert {x.text for x in only.labels} == {"bruma", "Nebel", "haze"}
    detail = store.get_cluster(only.id)
    assert {x.text for x in detail.labels} == {"bruma", "Nebel", "haze"}

    # the label filter reaches every member of the surviving cluster, not only the absorbed one's old members
    search = SearchStore(db, OPERATOR)
    assert search.matching_ids(Filters(label="nebel")) == set(f)
    assert search.matching_ids(Filters(label="haze", label_scheme="s")) == set(f)

    # export manifests carry the absorbed labels too
    ds = DatasetStore(db, OPERATOR)
    d = ds.create("fog", [MemberIn(x) for x in f[:3]], created_by="ed")
    b = ds.export_bundle(d.id)
    assert b.clustering is not None and b.clustering["run_id"] == r3
    for m in b.members:
        assert m.cluster == f"cluster-{c[0].identity_id}"
        assert set(m.labels) == {"bruma@es (s)", "Nebel@de (s)", "haze@en (s)"}
