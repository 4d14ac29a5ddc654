"""Catalogue behaviour on SQLite and PostgreSQL alike."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from tessera.catalog.store import Catalog, FileIn, ItemFilter, RecordIn
from tessera.consent.service import ConsentService
from tessera.core.errors import LicenceError, NotFound
from tessera.indexer.store import FeaturesOut, IndexStore


def _record(catalog: Catalog, ident: str = "/music", licence: str = "CC-BY-4.0") -> int:
    return catalog.upsert_record(RecordIn(kind="folder", identifier=ident, title="Music", licence=licence,
                                          creator="Ana"))


def _features(n: int = 4) -> FeaturesOut:
    return FeaturesOut("v-test", 2.0, 44100, 1, {"x": 1.0}, {"flags": []}, np.arange(n, dtype=np.float32))


def test_same_md5_is_the_same_file(catalog: Catalog) -> None:
    rid = _record(catalog)
    a = catalog.add_file(rid, FileIn(filename="a.wav", md5="a" * 32, size=10, path="/music/a.wav"))
    b = catalog.add_file(rid, FileIn(filename="a.wav", md5="a" * 32, size=10, path="/music/a.wav"))
    assert a[1] is True and b == (a[0], False)
    assert _record(catalog) == rid
    assert catalog.count_files(rid) == 1


def test_same_bytes_in_another_record_are_linked_as_duplicate(catalog: Catalog) -> None:
    first = catalog.add_file(_record(catalog, "/one"), FileIn(filename="a.wav", md5="b" * 32, size=1))[0]
    second = catalog.add_file(_record(catalog, "/two"), FileIn(filename="a.wav", md5="b" * 32, size=1))[0]
    assert catalog.get_item(second).duplicate_of == first
    assert catalog.get_item(first).duplicate_of is None


def test_item_carries_licence_and_attribution(catalog: Catalog) -> None:
    rid = catalog.upsert_record(RecordIn(kind="folder", identifier="/x", title="X", licence="cc-by-nc-4.0",
                                         creator="Ana", page_url="https://example.org/x"))
    fid, _ = catalog.add_file(rid, FileIn(filename="rain.wav", md5="c" * 32, size=1, title="Rain"))
    item = catalog.get_item(fid)
    assert item.licence_spdx == "CC-BY-NC-4.0"
    assert item.attribution.startswith('"Rain" by Ana (https://example.org/x) is licensed under CC-BY-NC-4.0')
    rows, total = catalog.list_items(ItemFilter(licence_class="restricted"), 10, 0)
    assert total == 1 and rows[0].id == fid
    assert catalog.list_items(ItemFilter(licence_class="open"), 10, 0)[1] == 0


def test_unknown_licence_is_refused(catalog: Catalog) -> None:
    with pytest.raises(LicenceError):
        _record(catalog, licence="All rights reserved")


def test_withdrawal_hides_and_purges(catalog: Catalog, consent: ConsentService) -> None:
    idx = IndexStore(catalog.db)
    rid = _record(catalog)
    keep = catalog.add_file(rid, FileIn(filename="k.wav", md5="d" * 32, size=1, path="/k"))[0]
    gone = catalog.add_file(rid, FileIn(filename="g.wav", md5="e" * 32, size=1, path="/g"))[0]
    for fid in (keep, gone):
        idx.save_features(fid, _features())
    assert len(idx.vector_set("v-test").file_ids) == 2
    assert consent.withdraw("file", str(gone), actor="rights holder", reason="asked").file_ids == [gone]
    with pytest.raises(NotFound):
        catalog.get_item(gone)
    assert catalog.get_features(gone) is None
    assert list(idx.vector_set("v-test").file_ids) == [keep]
    assert [i.id for i in catalog.list_items(ItemFilter(), 10, 0)[0]] == [keep]
    ev = consent.events()[-1]
    assert (ev.action, ev.scope, ev.file_ids) == ("withdraw", "file", [gone])


def test_timed_consent_expires_by_itself(catalog: Catalog, consent: ConsentService) -> None:
    rid = _record(catalog)
    fid = catalog.add_file(rid, FileIn(filename="t.wav", md5="f" * 32, size=1, path="/t"))[0]
    IndexStore(catalog.db).save_features(fid, _features())
    soon = datetime.now(UTC) + timedelta(hours=1)
    consent.set_period("file", str(fid), soon, actor="ana", reason="one-hour trial")
    assert catalog.get_item(fid).id == fid
    # every query applies the expiry at query time, before any sweep has run
    later = soon + timedelta(seconds=1)
    assert consent.sweep(at=datetime.now(UTC)).file_ids == []
    assert consent.sweep(at=later).file_ids == [fid]
    with pytest.raises(NotFound):
        catalog.get_item(fid)
    assert catalog.get_features(fid) is None


def test_files_to_index_is_incremental(catalog: Catalog) -> None:
    idx = IndexStore(catalog.db)
    rid = _record(catalog)
    a = catalog.add_file(rid, FileIn(filename="a.wav", md5="1" * 32, size=1, path="/a"))[0]
    b = catalog.add_file(rid, FileIn(filename="b.wav", md5="2" * 32, size=1, path="/b"))[0]
    assert [t.file_id for t in idx.files_to_index("v-test")] == [a, b]
    idx.save_features(a, _features())
    idx.mark_failed(b, "cannot decode", "v-test")
    assert idx.files_to_index("v-test") == []
    assert [t.file_id for t in idx.files_to_index("v-test", retry_failed=True)] == [b]
    # a new extractor version makes everything due again
    assert [t.file_id for t in idx.files_to_index("v-next")] == [a]
