"""Dataset versions (SQLite and PostgreSQL) and licence summaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from tessera.catalog.store import Catalog, FileIn, RecordIn
from tessera.catalog.visibility import OPERATOR
from tessera.consent.service import ConsentService
from tessera.core.errors import Conflict, NotFound
from tessera.datasets.licence_summary import summarise
from tessera.datasets.store import DatasetStore, MemberIn


def _items(catalog: Catalog) -> list[int]:
    rec = catalog.upsert_record(RecordIn("folder", "/x", "X", "CC-BY-4.0", creator="A"))
    return [catalog.add_file(rec, FileIn(f"{i}.wav", f"{i:032d}", 10, url=f"http://h/{i}.wav"))[0]
            for i in range(4)]


def test_versions_are_immutable_snapshots(catalog: Catalog, consent: ConsentService) -> None:
    ids = _items(catalog)
    st = DatasetStore(catalog.db, OPERATOR)
    d = st.create("Harbour sounds", [MemberIn(ids[0]), MemberIn(ids[1]), MemberIn(ids[1])], "purpose", "notes", "ed")
    assert d.slug == "harbour-sounds" and [v.version for v in d.versions] == [1]
    v2 = st.change(d.id, add=[MemberIn(ids[2])], remove=[MemberIn(ids[0])], notes="swap", created_by="ed")
    assert v2.version == 2 and [m.file_id for m in v2.members] == [ids[1], ids[2]]
    assert [m.file_id for m in st.version(d.id, 1).members] == [ids[0], ids[1]]  # v1 unchanged
    assert [v.version for v in st.versions(d.id)] == [1, 2]
    with pytest.raises(Conflict):
        st.create("Harbour sounds")
    with pytest.raises(NotFound):
        st.change(d.id, add=[MemberIn(999999)])
    with pytest.raises(NotFound):
        st.version(d.id, 7)
    # a withdrawal shows in exports of every version, without content
    consent.withdraw("file", str(ids[1]), actor="t", reason="t")
    b = st.export_bundle(d.id, 1)
    by = {m.file_id: m for m in b.members}
    assert by[ids[1]].status == "withdrawn" and by[ids[1]].title == "" and by[ids[0]].status == "active"
    with pytest.raises(NotFound):  # cannot add a withdrawn item
        st.change(d.id, add=[MemberIn(ids[1])])


def test_licence_summary() -> None:
    s = summarise(["CC-BY-SA-4.0", "CC-BY-NC-4.0"])
    assert not s.commercial_use and s.share_alike and s.derivatives
    assert any("BY-SA and non-share-alike NC" in w for w in s.warnings)
    s = summarise(["CC-BY-SA-4.0", "CC-BY-NC-SA-4.0"])
    assert any("cannot be merged" in w for w in s.warnings)
    s = summarise(["CC0-1.0", "CC-BY-ND-4.0"], segments_from_nd=1)
    assert s.commercial_use and not s.derivatives and len(s.warnings) == 2
    s = summarise(["CC0-1.0", "CC-PDM-1.0"])
    assert s.commercial_use and s.derivatives and not s.attribution_required and not s.warnings


def test_nd_segments_are_not_bundled(tmp_path: Path) -> None:
    from tessera.datasets.export import _bundle_decision
    from tessera.datasets.store import ExportMember

    audio = tmp_path / "a.flac"
    audio.write_bytes(b"x")
    nd_seg = ExportMember(file_id=1, status="active", segment_id=5, start=0.0, end=30.0, licence_spdx="CC-BY-ND-4.0",
                          path=str(audio))
    nd_whole = ExportMember(file_id=1, status="active", licence_spdx="CC-BY-ND-4.0", path=str(audio))
    by_seg = ExportMember(file_id=2, status="active", segment_id=6, licence_spdx="CC-BY-4.0", path=str(audio))
    gone = ExportMember(file_id=3, status="withdrawn")
    assert _bundle_decision(nd_seg, True)[0] is False and "derivative" in _bundle_decision(nd_seg, True)[1]
    assert _bundle_decision(nd_whole, True)[0] is True
    assert _bundle_decision(by_seg, True)[0] is True
    assert _bundle_decision(gone, True) == (False, "consent withdrawn: not distributed")
