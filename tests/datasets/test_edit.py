"""Purpose and notes are editable after creation: each edit is a new version with the same members,
and an older version's export still states the texts it had (SQLite and PostgreSQL; API over SQLite)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tessera.api.app import create_app
from tessera.catalog.store import Catalog, FileIn, RecordIn
from tessera.catalog.visibility import OPERATOR
from tessera.compose import build
from tessera.core.db import Database
from tessera.core.errors import InvalidInput, NotFound
from tessera.core.settings import Settings
from tessera.datasets.export import export
from tessera.datasets.store import DatasetStore, MemberIn

AUTH = {"Authorization": "Bearer test-editor-token"}


def _files(catalog: Catalog, n: int) -> list[int]:
    rec = catalog.upsert_record(RecordIn("folder", "/edit-test", "Edit test", "CC-BY-4.0", creator="Ana"))
    return [catalog.add_file(rec, FileIn(f"t{i}.wav", f"{i:032x}", 10, url=f"http://x/t{i}.wav"))[0]
            for i in range(n)]


def test_edit_makes_a_version_and_old_exports_keep_their_texts(db: Database, catalog: Catalog,
                                                               tmp_path: Path) -> None:
    st = DatasetStore(db, OPERATOR)
    f = _files(catalog, 3)
    d = st.create("Rain", [MemberIn(x) for x in f], description="rain for a film", notes="first pick",
                  created_by="ed")
    v2 = st.edit(d.id, {"description": "rain textures for a sound-design course"}, "ed")
    assert v2.version == 2 and [m.file_id for m in v2.members] == f
    assert v2.origin == {"kind": "edit", "changed": {"description": "rain textures for a sound-design course"},
                         "previous": {"description": "rain for a film"}}
    v3 = st.edit(d.id, {"notes": None}, "bo", version_notes="notes cleared")
    assert v3.version == 3 and v3.notes == "notes cleared" and v3.created_by == "bo"
    now = st.get(d.id)
    assert (now.description, now.notes) == ("rain textures for a sound-design course", None)
    # each version's bundle and datasheet carry the texts of that version
    b1, b2, b3 = (st.export_bundle(d.id, v) for v in (1, 2, 3))
    assert (b1.description, b1.notes) == ("rain for a film", "first pick")
    assert (b2.description, b2.notes) == ("rain textures for a sound-design course", "first pick")
    assert (b3.description, b3.notes) == ("rain textures for a sound-design course", None)
    export(b1, tmp_path / "v1")
    sheet = (tmp_path / "v1" / "DATASHEET.md").read_text()
    assert "rain for a film" in sheet and "Curator notes: first pick" in sheet
    with pytest.raises(InvalidInput):
        st.edit(d.id, {}, "ed")
    with pytest.raises(InvalidInput):
        st.edit(d.id, {"notes": None}, "ed")  # already cleared: nothing changes
    with pytest.raises(InvalidInput):
        st.edit(d.id, {"name": "x"}, "ed")
    with pytest.raises(NotFound):
        st.edit(99999, {"notes": "x"}, "ed")


def test_patch_dataset_through_the_api(tmp_path: Path) -> None:
    app = create_app(build(Settings(data_dir=tmp_path / "data", editor_token="test-editor-token",
                              rate_limit_anonymous=10**6)))
    f = _files(app.state.services.catalog(OPERATOR), 2)
    with TestClient(app) as client:
        d = client.post("/api/datasets", headers=AUTH, json={
            "name": "Birds", "description": "dawn chorus", "members": [{"item_id": x} for x in f]}).json()
        assert client.patch(f"/api/datasets/{d['id']}", json={"notes": "x"}).status_code == 401
        r = client.patch(f"/api/datasets/{d['id']}", headers=AUTH,
                         json={"notes": "only recordings before 6 am", "version_notes": "curation rule"})
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["description"] == "dawn chorus" and out["notes"] == "only recordings before 6 am"
        assert out["latest_version"] == 2 and out["latest"]["notes"] == "curation rule"
        assert out["latest"]["origin"]["kind"] == "edit" and out["latest"]["member_count"] == 2
        r = client.patch(f"/api/datasets/{d['id']}", headers=AUTH, json={})
        assert r.status_code == 422 and r.json()["code"]
        assert client.patch("/api/datasets/424242", headers=AUTH, json={"notes": "x"}).status_code == 404
        r = client.patch(f"/api/datasets/{d['id']}", headers=AUTH, json={"description": "x" * 20001})
        assert r.status_code == 422
