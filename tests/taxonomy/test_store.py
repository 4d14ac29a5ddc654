"""Runs, identities, schemes, labels, votes, history and SKOS on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import SKOS

from tessera.catalog.store import Catalog
from tessera.catalog.visibility import OPERATOR
from tessera.core.db import Database
from tessera.core.errors import Conflict, InvalidInput, NotFound
from tessera.taxonomy.errors import NotAllowed
from tessera.taxonomy.skos import serialise
from tessera.taxonomy.store import TaxonomyStore, valid_language_tag
from tests.taxonomy.helpers import make_files, save


@pytest.fixture
def store(db: Database) -> TaxonomyStore:
    return TaxonomyStore(db, OPERATOR)


def test_labels_survive_reclustering_and_lineage_is_recorded(catalog: Catalog, store: TaxonomyStore) -> None:
    f = make_files(catalog, 40)
    # run 1: A = 0..14, B = 15..29, 30..39 unclustered
    r1 = save(store, f, [0] * 15 + [1] * 15 + [-1] * 10)
    run1 = store.get_run(r1)
    assert run1.unclustered == 10 and len(run1.unclustered_items) == 10
    a, b = (c for c in run1.clusters_detail)
    store.add_scheme("s", "S", {"min_net_votes": 1}, "ed")
    la = store.propose_label("s", "murmur", "en", "ed", cluster_id=a.id)
    store.vote(la.id, "v1", 1)
    lb = store.propose_label("s", "tambor", "pt-BR", "ed", cluster_id=b.id)
    store.vote(lb.id, "v1", 1)
    # run 2, with 10 more files: A splits into 0..9 and 10..14+30..39, B merges with the new files
    g = f + make_files(catalog, 10, start=40)
    r2 = save(store, g, [0] * 10 + [2] * 5 + [1] * 15 + [2] * 10 + [1] * 10)
    run2 = store.get_run(r2)
    by_label = {c.label: c for c in run2.clusters_detail}
    assert by_label[0].identity_id == a.identity_id  # largest part of A keeps its identity
    assert by_label[1].identity_id == b.identity_id
    assert [x.text for x in by_label[0].labels] == ["murmur"]
    assert [x.text for x in by_label[1].labels] == ["tambor"]
    kinds = sorted((e.kind, e.from_identity_id, e.to_identity_id) for e in run2.lineage)
    assert ("split", a.identity_id, a.identity_id) in kinds
    assert ("split", a.identity_id, by_label[2].identity_id) in kinds
    assert ("continued", b.identity_id, b.identity_id) in kinds
    # the split-off part shows where it came from, with the parent's labels
    part = store.get_cluster(by_label[2].id)
    assert part.labels == [] and [x.text for x in part.related_labels] == ["murmur"]

    # run 3: everything merges into one cluster
    r3 = save(store, g, [0] * 50)
    run3 = store.get_run(r3)
    merged = [e for e in run3.lineage if e.kind == "merged"]
    assert len(merged) == 3 and {e.to_cluster_id for e in merged} == {run3.clusters_detail[0].id}
    assert run3.clusters_detail[0].identity_id == b.identity_id  # B contributes most (25 of 50)
    only = store.get_cluster(run3.clusters_detail[0].id)
    # A's identity ended in the merge: its label shows on the survivor, marked as inherited
    assert {(x.text, x.inherited_from_identity_id) for x in only.labels} == {
        ("tambor", None), ("murmur", a.identity_id)}
    assert {x.text for x in only.related_labels} == {"murmur"}  # nothing a community wrote is lost
    runs, total = store.list_runs(10, 0)
    assert total == 3 and [r.id for r in runs] == [r3, r2, r1]


def test_votes_and_acceptance_rules(catalog: Catalog, store: TaxonomyStore) -> None:
    f = make_files(catalog, 12)
    run = store.get_run(save(store, f, [0] * 12))
    cid = run.clusters_detail[0].id
    store.add_scheme("votes", "By votes", {"min_net_votes": 2}, "ed")
    store.add_scheme("stew", "By stewards", {"steward_approval": True}, "ed", stewards=["ama"])
    lab = store.propose_label("votes", "shimmer", "en", "ed", cluster_id=cid)
    assert store.vote(lab.id, "x", 1).status == "proposed"
    assert store.vote(lab.id, "y", -1).net_votes == 0
    with pytest.raises(Conflict):
        store.accept(lab.id, "x")  # not enough net votes
    assert store.vote(lab.id, "y", 1).net_votes == 2  # a voter changes their vote: still one vote each
    assert store.get_label(lab.id).status == "accepted"
    with pytest.raises(InvalidInput):
        store.vote(lab.id, "x", 2)

    other = store.propose_label("stew", "ìlù", "yo", "ed", cluster_id=cid, cultural_context="Yorùbá drum family")
    for voter in ("a", "b", "c"):
        store.vote(other.id, voter, 1)
    assert store.get_label(other.id).status == "proposed"  # votes alone do not accept here
    with pytest.raises(NotAllowed):
        store.accept(other.id, "not-a-steward")
    assert store.accept(other.id, "ama").status == "accepted"

    hist, total = store.history(other.id)
    assert [h.action for h in hist] == ["propose", "vote", "vote", "vote", "accept"]
    assert [h.actor for h in hist] == ["ed", "a", "b", "c", "ama"] and all(h.at for h in hist)
    assert hist[-1].detail["by"] == "steward" and total == 5
    store.edit_label(other.id, "ama", description="drums")
    store.remove_label(other.id, "ama", reason="duplicate")
    hist, _ = store.history(other.id)
    assert [h.action for h in hist][-2:] == ["edit", "remove"]
    assert hist[-2].detail["changes"]["description"] == {"from": None, "to": "drums"}
    with pytest.raises(Conflict):
        store.vote(other.id, "z", 1)


def test_label_input_is_checked(catalog: Catalog, store: TaxonomyStore) -> None:
    f = make_files(catalog, 3)
    store.add_scheme("s", "S", {"min_net_votes": 1}, "ed")
    for bad in ("english", "e", "en_US", "en--us", "12"):
        assert not valid_language_tag(bad), bad
    for good in ("en", "pt-BR", "zh-Hant-TW", "yo", "es-419", "sgn-ase", "x-private", "de-CH-1996"):
        assert valid_language_tag(good), good
    with pytest.raises(InvalidInput):
        store.propose_label("s", "x", "en_US", "ed", item_id=f[0])
    with pytest.raises(InvalidInput):
        store.propose_label("s", "x", "en", "ed")  # no target
    with pytest.raises(NotFound):
        store.propose_label("nope", "x", "en", "ed", item_id=f[0])
    with pytest.raises(NotFound):
        store.propose_label("s", "x", "en", "ed", cluster_id=999)
    with pytest.raises(InvalidInput):
        store.add_scheme("t", "T", {"genre": "rock"}, "ed")
    with pytest.raises(InvalidInput):
        store.add_scheme("t", "T", {"min_net_votes": 0}, "ed")
    with pytest.raises(Conflict):
        store.add_scheme("s", "again", {"min_net_votes": 1}, "ed")
    assert store.propose_label("s", "one hit", "en", "ed", item_id=f[0]).item_id == f[0]


def test_skos_export_parses_with_labels_and_mappings(catalog: Catalog, store: TaxonomyStore) -> None:
    f = make_files(catalog, 10)
    run = store.get_run(save(store, f, [0] * 10))
    c = run.clusters_detail[0]
    store.add_scheme("ears", "Ears", {"min_net_votes": 1}, "ed", description="what we hear", community="Ears group")
    store.add_scheme("oido", "Oído", {"min_net_votes": 1}, "ed")
    a = store.propose_label("ears", "hum", "en", "ed", cluster_id=c.id, description="a low steady sound",
                            cultural_context="used by sound walkers")
    store.vote(a.id, "v", 1)
    a2 = store.propose_label("ears", "drone", "en", "ed", cluster_id=c.id)
    store.vote(a2.id, "v", 1)
    b = store.propose_label("oido", "zumbido", "es", "ed", cluster_id=c.id)
    store.vote(b.id, "v", 1)
    pending = store.propose_label("ears", "unsure", "fr", "ed", cluster_id=c.id)
    store.link(a.id, b.id, "exactMatch", "ed")
    with pytest.raises(InvalidInput):
        store.link(a.id, a2.id, "related", "ed")  # same scheme: not a mapping
    assert [h.action for h in store.history(a.id)[0]][-1] == "link"

    base = "https://example.org/api"
    data = store.skos_data("ears")
    assert pending.id not in {x.id for x in data.labels}  # only accepted labels are published
    ttl = serialise(data, base, "turtle")
    g = Graph().parse(data=ttl, format="turtle")
    concept = URIRef(f"{base}/schemes/ears/concepts/cluster-{c.identity_id}")
    assert (concept, SKOS.inScheme, URIRef(f"{base}/schemes/ears")) in g
    assert set(g.objects(concept, SKOS.prefLabel)) == {Literal("hum", lang="en")}
    assert set(g.objects(concept, SKOS.altLabel)) == {Literal("drone", lang="en")}
    assert (concept, SKOS.definition, Literal("a low steady sound", lang="en")) in g
    assert (concept, SKOS.scopeNote, Literal("used by sound walkers", lang="en")) in g
    other = URIRef(f"{base}/schemes/oido/concepts/cluster-{c.identity_id}")
    assert (concept, SKOS.exactMatch, other) in g

    jl = serialise(data, base, "json-ld")
    json.loads(jl)
    g2 = Graph().parse(data=jl, format="json-ld")
    assert len(g2) == len(g) and (concept, SKOS.exactMatch, other) in g2
    # the other scheme states the mapping from its side
    g3 = Graph().parse(data=serialise(store.skos_data("oido"), base, "turtle"), format="turtle")
    assert (other, SKOS.exactMatch, concept) in g3
    assert set(g3.objects(other, SKOS.prefLabel)) == {Literal("zumbido", lang="es")}
