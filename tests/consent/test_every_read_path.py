"""Every read of every store that can return items hides withdrawn and protocol-restricted items from the public.

The table below names each public method of each item-reading store, with a call and what the answer
shows of items. A method missing from the table fails ``test_the_table_covers_every_method``: whoever adds
a read must say here what it exposes, and the check then runs on it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel

from tessera.accounts.moderation import ModerationStore
from tessera.catalog.protocols import ProtocolStore
from tessera.catalog.store import Catalog, FileIn, ItemFilter, RecordIn
from tessera.catalog.visibility import OPERATOR, PUBLIC, Viewer
from tessera.consent.service import ConsentService
from tessera.core.db import Database
from tessera.core.errors import NotFound
from tessera.datasets.store import DatasetStore, MemberIn
from tessera.indexer.store import FeaturesOut, IndexStore, SegmentOut
from tessera.search.filters import Filters
from tessera.search.store import SearchStore
from tessera.taxonomy.points import MemberCache
from tessera.taxonomy.store import ClusterIn, TaxonomyStore

OUTSIDER = Viewer.of(["another community"])  # signed in, but not in the community that restricts


@dataclass
class World:
    db: Database
    open: int
    withdrawn: int
    restricted: int
    open_record: int
    secret_record: int
    segment_of: dict[int, int]
    run: int
    cluster: int
    identity: int
    label_of: dict[int, int]  # item id -> a label about that item
    scheme: str
    dataset: int

    @property
    def hidden(self) -> set[int]:
        return {self.withdrawn, self.restricted}


@pytest.fixture
def world(db: Database, consent: ConsentService) -> World:
    catalog = Catalog(db, OPERATOR)
    open_rec = catalog.upsert_record(RecordIn("folder", "/songs", "Songs", "CC-BY-4.0", creator="Ana"))
    secret_rec = catalog.upsert_record(RecordIn("folder", "/rites", "Rites", "CC-BY-4.0", creator="Elder"))
    ids = [catalog.add_file(open_rec, FileIn(f"{n}.wav", f"{n:032d}", 10, url=f"http://h/{n}.wav", title=f"t{n}"))[0]
           for n in (1, 2)]
    ids.append(catalog.add_file(secret_rec, FileIn("3.wav", f"{3:032d}", 10, url="http://h/3.wav", title="t3"))[0])
    idx = IndexStore(db)
    for k, fid in enumerate(ids):
        vec = np.full(8, float(k), np.float32)
        seg = SegmentOut(0.0, 1.0, {}, {"flags": []}, vec)
        idx.save_features(fid, FeaturesOut("v-test", 2.0, 44100, 1, {"bpm": 100.0}, {"flags": ["mono"]}, vec,
                                           segments=[seg]))
    segment_of = {fid: int(catalog.get_segments(fid)[0].id) for fid in ids}
    tax = TaxonomyStore(db, OPERATOR)
    run = tax.save_run("all", "v-test", {}, ids, np.zeros(3, np.int64), np.ones(3), np.zeros((3, 2), np.float32),
                       [ClusterIn(0, 3, 6.0, {"summary": "x"}, list(ids))], {}, [], None, "t")
    cluster = tax.get_run(run).clusters_detail[0].id
    identity = tax.identity_of_cluster(cluster)
    tax.add_scheme("kin", "Kin words", {"min_net_votes": 1}, "ed")
    label_of = {}
    for fid in ids:
        lab = tax.propose_label("kin", f"about {fid}", "en", "ed", item_id=fid, cultural_context="who sings it")
        tax.accept(lab.id, "admin", override=True)
        label_of[fid] = lab.id
    tax.accept(tax.propose_label("kin", "drums", "en", "ed", identity_id=identity).id, "admin", override=True)
    ds = DatasetStore(db, OPERATOR).create("All three", [MemberIn(f) for f in ids], created_by="cur")
    # the label comes after the dataset: a dataset made before a protocol label must hide it too
    ProtocolStore(db, OPERATOR).add_protocol_label("record", secret_rec, "tk_secret_sacred", "Yolngu", None, "mod")
    consent.withdraw("file", str(ids[1]), "rights holder", "asked")
    return World(db, ids[0], ids[1], ids[2], open_rec, secret_rec, segment_of, run, cluster, identity, label_of,
                 "kin", ds.id)


def _ids(obj: Any) -> set[int]:
    """Item ids an answer shows with content: rows, dicts and dataclasses with an item id and any detail."""
    found: set[int] = set()

    def walk(o: Any) -> None:
        if isinstance(o, BaseModel):  # a typed record: its fields, as the API shows them
            walk(o.model_dump())
        elif isinstance(o, dict):
            for k in ("file_id", "item_id"):
                if isinstance(o.get(k), int):
                    found.add(o[k])
            for v in o.values():
                walk(v)
        elif isinstance(o, list | tuple | set):
            for v in o:
                walk(v)
        elif hasattr(o, "__table__") or hasattr(o, "__dataclass_fields__"):
            name = type(o).__name__
            if name == "AudioFile":
                found.add(o.id)
            fid = getattr(o, "file_id", None)
            if isinstance(fid, int) and getattr(o, "status", "active") == "active":
                found.add(fid)
            for attr in ("members",):
                walk(getattr(o, attr, None) or [])

    walk(obj)
    return found


def _raises_not_found(call: Callable[[], Any]) -> set[int]:
    with pytest.raises(NotFound):
        call()
    return set()


# method -> (store class, call returning the item ids it shows); hidden ids must never be among them
Reader = Callable[[Any, World], Iterable[int]]
READS: dict[tuple[type, str], Reader] = {
    (Catalog, "list_items"): lambda st, w: _ids(st.list_items(ItemFilter(), 50, 0)[0]),
    (Catalog, "get_item"): lambda st, w: set().union(*(_raises_not_found(lambda f=f: st.get_item(f))
                                                       for f in w.hidden)),
    (Catalog, "get_items"): lambda st, w: set(st.get_items([w.open, *w.hidden])),
    (Catalog, "get_features"): lambda st, w: {f for f in w.hidden if st.get_features(f) is not None},
    (Catalog, "get_segments"): lambda st, w: {f for f in w.hidden if st.get_segments(f)},
    (Catalog, "record_ids_of"): lambda st, w: set(st.record_ids_of()),
    (Catalog, "get_record"): lambda st, w: _raises_not_found(lambda: st.get_record(w.secret_record)),
    (Catalog, "get_records"): lambda st, w: {w.restricted} if w.secret_record in st.get_records(
        [w.open_record, w.secret_record]) else set(),
    (Catalog, "count_files"): lambda st, w: set(range(st.count_files() - 1)) & w.hidden,  # 1 visible: no extra
    (Catalog, "stats"): lambda st, w: {w.withdrawn} if sum(v for k, v in st.stats().items() if k != "records") != 1
    else set(),
    (SearchStore, "browse"): lambda st, w: {r.id for r in st.browse(Filters(), 50, 0)[0]},
    (SearchStore, "matching_ids"): lambda st, w: st.matching_ids(Filters()),
    (SearchStore, "count"): lambda st, w: {w.withdrawn} if st.count(Filters()) != 1 else set(),
    (SearchStore, "item_vector"): lambda st, w: set().union(*(_raises_not_found(lambda f=f: st.item_vector(f))
                                                             for f in w.hidden)),
    (SearchStore, "segment_vector"): lambda st, w: set().union(*(_raises_not_found(
        lambda f=f: st.segment_vector(w.segment_of[f])) for f in w.hidden)),
    (SearchStore, "quality_of"): lambda st, w: set(st.quality_of([w.open, *w.hidden])),
    (SearchStore, "clauses"): lambda st, w: _ids(st.browse(Filters(), 50, 0)[0]),
    (TaxonomyStore, "get_run"): lambda st, w: {p.item_id for p in st.get_run(w.run).points} | {
        f for c in st.get_run(w.run).clusters_detail for f in c.exemplars},
    (TaxonomyStore, "get_cluster"): lambda st, w: {m.item_id for m in st.get_cluster(w.cluster).members},
    (TaxonomyStore, "map_points"): lambda st, w: {int(i) for i in st.map_points(w.run, MemberCache()).ids},
    (TaxonomyStore, "run_head"): lambda st, w: set(st.run_head(w.run).unclustered_sample) | {
        f for c in st.run_head(w.run).clusters_detail for f in c.exemplars},
    (TaxonomyStore, "run_memberships"): lambda st, w: st.run_memberships(w.run)[1],
    (TaxonomyStore, "licences_of"): lambda st, w: set(st.licences_of([w.open, *w.hidden])),
    (TaxonomyStore, "get_label"): lambda st, w: set().union(*(_raises_not_found(
        lambda f=f: st.get_label(w.label_of[f])) for f in w.hidden)),
    (TaxonomyStore, "history"): lambda st, w: set().union(*(_raises_not_found(
        lambda f=f: st.history(w.label_of[f])) for f in w.hidden)),
    (TaxonomyStore, "skos_data"): lambda st, w: {lab.item_id for lab in st.skos_data(w.scheme).labels
                                                 if lab.item_id},
    (TaxonomyStore, "labels_for_identity"): lambda st, w: _ids(st.labels_for_identity(w.identity)),
    (TaxonomyStore, "propose_label"): lambda st, w: set().union(*(_raises_not_found(
        lambda f=f: st.propose_label(w.scheme, "x", "en", "ed", item_id=f)) for f in w.hidden)),
    (TaxonomyStore, "vote"): lambda st, w: set().union(*(_raises_not_found(
        lambda f=f: st.vote(w.label_of[f], "ed2", 1)) for f in w.hidden)),
    (TaxonomyStore, "edit_label"): lambda st, w: set().union(*(_raises_not_found(
        lambda f=f: st.edit_label(w.label_of[f], "ed", text="y")) for f in w.hidden)),
    (TaxonomyStore, "accept"): lambda st, w: set().union(*(_raises_not_found(
        lambda f=f: st.accept(w.label_of[f], "ed")) for f in w.hidden)),
    (TaxonomyStore, "link"): lambda st, w: set().union(*(_raises_not_found(
        lambda f=f: st.link(w.label_of[f], w.label_of[w.open], "exactMatch", "ed")) for f in w.hidden)),
    (TaxonomyStore, "remove_label"): lambda st, w: set().union(*(_raises_not_found(
        lambda f=f: st.remove_label(w.label_of[f], "ed")) for f in w.hidden)),
    (DatasetStore, "version"): lambda st, w: _ids(st.version(w.dataset, 1)),
    (DatasetStore, "versions"): lambda st, w: _ids(st.versions(w.dataset)),
    (DatasetStore, "export_bundle"): lambda st, w: _ids(st.export_bundle(w.dataset, 1)),
    (DatasetStore, "create"): lambda st, w: set().union(*(_raises_not_found(
        lambda f=f: st.create(f"with {f}", [MemberIn(f)])) for f in w.hidden)),
    (DatasetStore, "change"): lambda st, w: set().union(*(_raises_not_found(
        lambda f=f: st.change(w.dataset, add=[MemberIn(f)])) for f in w.hidden)),
    (ModerationStore, "report"): lambda st, w: set().union(*(_raises_not_found(
        lambda f=f: st.report("item", f, "harmful", None, "anonymous")) for f in w.hidden)),
    (ProtocolStore, "protocol_labels_for_items"): lambda st, w: set(),  # shown only beside items already visible
}

# public methods that show no item of their own, and why
NOT_ITEM_READS: dict[type, set[str]] = {
    Catalog: {"upsert_record", "add_file"},  # writes of the operator's crawlers and `tessera add`
    SearchStore: set(),
    TaxonomyStore: {"latest_run_id", "save_run", "list_runs", "member_count", "identity_of_cluster",
                    "cluster_for_identity",
                    "add_scheme", "add_steward", "get_scheme", "list_schemes"},
    DatasetStore: {"get", "list_datasets", "edit", "texts_at",  # datasets, their texts: no item
                   "drop_withdrawn"},  # the consent service's purge step
    ModerationStore: {"audit", "list_audit", "get_report", "list_reports", "close_report", "purge_label"},
    ProtocolStore: {"protocol_dict", "add_protocol_label", "remove_protocol_label", "protocol_fingerprint",
                    "protocol_labels"},
}
STORES = (Catalog, SearchStore, TaxonomyStore, DatasetStore, ModerationStore, ProtocolStore)


def test_the_table_covers_every_method() -> None:
    for cls in STORES:
        public = {n for n, _ in inspect.getmembers(cls, inspect.isfunction) if not n.startswith("_")}
        listed = {n for (c, n) in READS if c is cls} | NOT_ITEM_READS[cls]
        assert public == listed, f"{cls.__name__}: classify {sorted(public - listed)}; gone: {sorted(listed - public)}"


@pytest.mark.parametrize("viewer", [PUBLIC, OUTSIDER], ids=["public", "outsider"])
def test_hidden_items_stay_hidden(world: World, viewer: Viewer) -> None:
    """One world per database and viewer (building it is the slow part), every read checked against it."""
    leaks = {}
    for read in sorted(READS, key=lambda k: (k[0].__name__, k[1])):
        cls, name = read
        shown = set(READS[read](cls(world.db, viewer), world))
        if shown & world.hidden:
            leaks[f"{cls.__name__}.{name}"] = sorted(shown & world.hidden)
    assert not leaks, f"reads that show hidden items: {leaks}"


def test_the_same_reads_show_the_open_item_and_the_community_its_own(world: World) -> None:
    """The check above is not vacuous: these reads do show items, and the community sees its restricted one."""
    for read in [(Catalog, "list_items"), (SearchStore, "browse"), (TaxonomyStore, "get_run"),
                 (TaxonomyStore, "map_points"),
                 (DatasetStore, "version"), (TaxonomyStore, "skos_data")]:
        cls, _ = read
        assert world.open in set(READS[read](cls(world.db, PUBLIC), world)), read
        mine = set(READS[read](cls(world.db, Viewer.of(["Yolngu"])), world))
        assert world.restricted in mine and world.withdrawn not in mine, read
