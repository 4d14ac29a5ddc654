"""Protection gaps closed: id bounds, bulk audio, page caps, protocol leaks, role holes, audit, timed consent.

Each test runs on a real SQLite file and on the real local PostgreSQL (a schema of its own).
"""

import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from tessera.accounts.store import AccountStore
from tessera.api.app import create_app, sweep_consent_once
from tessera.api.schemas import ID_MAX
from tessera.catalog.store import Catalog
from tessera.catalog.visibility import OPERATOR
from tessera.compose import build
from tessera.core.db import Database
from tessera.core.settings import Settings
from tessera.crawlers.sources.folder import add_folder
from tessera.crawlers.store import CrawlStore
from tessera.indexer.run import IndexParams, run_index
from tessera.indexer.store import IndexStore
from tests.conftest import PG_URL, _pg_available

NAMES = ("bd_haus", "bd_tek", "bd_zome", "sn_dub", "ambi_choir", "ambi_drone")
COMMUNITY = "Kel Tamasheq"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path, corpus_dir: Path) -> Iterator[dict[str, Any]]:
    schema = None
    url = None
    if request.param == "postgres":
        if not _pg_available():
            pytest.fail("PostgreSQL on 127.0.0.1:5432 (database test) is not reachable")
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(PG_URL)
        with admin.begin() as c:
            c.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    settings = Settings(data_dir=tmp_path / "data", database_url=url, rate_limit_anonymous=10**5,
                        rate_limit_key=10**5, rate_limit_audio_anonymous=10**5, editor_token="boot-token")
    settings.ensure_dirs()
    db = Database(settings.db_url)
    db.migrate()
    catalog = Catalog(db, OPERATOR)
    records = {n: add_folder(catalog, corpus_dir / f"{n}.flac", "CC0-1.0", "Sonic Pi contributors").record_id
               for n in NAMES}
    run_index(IndexStore(catalog.db), settings.index_dir, IndexParams(), workers=1)
    accounts = AccountStore(db)
    keys = {}
    for name, role in (("u-editor", "editor"), ("u-other", "editor"), ("u-steward", "editor"),
                       ("u-moderator", "moderator"), ("u-admin", "admin"), ("kel-member", "editor")):
        accounts.add_user(name, role)
        keys[name] = accounts.issue_key(name)
    accounts.set_communities("kel-member", [COMMUNITY])
    try:
        with TestClient(create_app(build(settings))) as client:
            ids = {i["title"]: i["id"] for i in client.get("/api/items").json()["items"]}
            yield {"client": client, "keys": keys, "ids": ids, "records": records, "catalog": catalog,
                   "settings": settings, "accounts": accounts, "backend": request.param}
    finally:
        db.dispose()
        if schema is not None:
            with admin.begin() as c:
                c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def _h(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def _restrict(client: TestClient, mod: dict[str, str], kind: str, target: int, code: str = "tk_community_use_only"
              ) -> int:
    r = client.post("/api/protocol-labels", headers=mod, json={
        "target_kind": kind, "target_id": target, "code": code, "community": COMMUNITY})
    assert r.status_code == 201, r.text
    label_id: int = r.json()["id"]
    return label_id


def test_out_of_range_ids_are_422_never_500(world: dict[str, Any]) -> None:
    client, keys, ids = world["client"], world["keys"], world["ids"]
    for url in ("/api/search?segment=11614783353089163264", f"/api/search?item={2**63}",
                f"/api/search?record_id={2**63}", f"/api/items/{2**63}", f"/api/items/{2**63}/similar",
                f"/api/datasets/{2**63}", f"/api/labels/{2**64}", f"/api/protocol-labels?target_id={2**63}"):
        r = client.get(url)
        assert r.status_code == 422, (url, r.text)
        assert r.json()["code"] == "invalid_request"
    for url in (f"/api/items/{ID_MAX}", f"/api/search?item={ID_MAX}"):
        r = client.get(url)
        if world["backend"] == "sqlite":  # the largest id the API takes, which SQLite holds: a plain miss
            assert r.status_code == 404, (url, r.text)
        else:  # beyond PostgreSQL's int4 columns: the driver refuses it, the error handler answers 422
            assert r.status_code == 422 and r.json()["code"] == "out_of_range", (url, r.text)
    r = client.post("/api/datasets", headers=_h(keys["u-editor"]),
                    json={"name": "x", "from_query": {"items": [2**64]}})
    assert r.status_code == 422
    # filters in a body have the grammar's bounds too: refused before any query, naming the field
    r = client.post("/api/datasets", headers=_h(keys["u-editor"]),
                    json={"name": "y", "from_query": {"filters": {"record_id": 2**70}}})
    assert r.status_code == 422 and "record_id" in r.text, r.text
    assert ids


def test_export_with_audio_needs_a_key(world: dict[str, Any]) -> None:
    client, keys, ids = world["client"], world["keys"], world["ids"]
    d = client.post("/api/datasets", headers=_h(keys["u-editor"]),
                    json={"name": "Kicks", "members": [{"item_id": ids["bd_haus"]}]}).json()
    url = f"/api/datasets/{d['id']}/export"
    r = client.get(url, params={"with_audio": "true"})
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    manifest_only = client.get(url)
    assert manifest_only.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(manifest_only.content)).namelist()
    assert not any(n.endswith(".flac") for n in names)
    r = client.get(url, params={"with_audio": "true"}, headers=_h(keys["u-other"]))
    assert r.status_code == 200
    assert any(n.endswith(".flac") for n in zipfile.ZipFile(io.BytesIO(r.content)).namelist())
    world["settings"].audio_requires_key = True
    try:
        assert client.get(url, params={"with_audio": "1"}).status_code == 401
    finally:
        world["settings"].audio_requires_key = False


def test_every_list_endpoint_caps_anonymous_pages(world: dict[str, Any]) -> None:
    client, keys, ids = world["client"], world["keys"], world["ids"]
    ed = _h(keys["u-editor"])
    client.post("/api/schemes", headers=ed, json={"slug": "s", "name": "S", "rule": {"min_net_votes": 3}})
    lab = client.post("/api/labels", headers=ed, json={"scheme": "s", "text": "thud", "lang": "en",
                                                        "item_id": ids["bd_haus"]}).json()
    d = client.post("/api/datasets", headers=ed, json={"name": "D", "members": [{"item_id": ids["bd_tek"]}]}).json()
    lists = ["/api/items", "/api/search", "/api/datasets", "/api/rejected", "/api/protocol-labels",
             f"/api/labels/{lab['id']}/history", "/api/clusterings",
             f"/api/datasets/{d['id']}/versions?with_members=true"]
    for url in lists:
        sep = "&" if "?" in url else "?"
        r = client.get(f"{url}{sep}limit=51")
        assert r.status_code == 403 and r.json()["code"] == "page_too_large", (url, r.text)
        assert r.json()["max_limit"] == 50
        ok = client.get(f"{url}{sep}limit=50")
        assert ok.status_code == 200 and ok.json()["limit"] == 50, (url, ok.text)
        assert client.get(f"{url}{sep}limit=51", headers=ed).status_code == 200, url
        assert client.get(f"{url}{sep}limit=201", headers=ed).status_code == 422, url
    # schemes are a small reference list the public web app reads whole
    assert client.get("/api/schemes?limit=200").status_code == 200
    assert client.get("/api/schemes?limit=201").status_code == 422
    # the default page of every list fits under the cap, so the public never needs to ask for less
    assert client.get(f"/api/labels/{lab['id']}/history").status_code == 200
    # the cluster map is a bulk listing too
    r = client.get("/api/clusterings/1", params={"points_limit": 10**6})
    assert r.status_code == 403 and r.json()["code"] == "page_too_large"


def test_record_profiles_never_leak_restricted_records(world: dict[str, Any]) -> None:
    client, keys, records = world["client"], world["keys"], world["records"]
    mod, kel = _h(keys["u-moderator"]), _h(keys["kel-member"])
    drone, choir = records["ambi_drone"], records["ambi_choir"]

    def neighbours(headers: dict[str, str]) -> set[int]:
        r = client.get(f"/api/records/{choir}/similar", params={"k": 10}, headers=headers)
        assert r.status_code == 200, r.text
        return {n["record"]["id"] for n in r.json()["neighbours"]}

    assert client.get(f"/api/records/{drone}/profile").status_code == 200
    assert drone in neighbours({})
    _restrict(client, mod, "record", drone)
    # warm the profile cache as a moderator first: the public must not be answered from it
    assert client.get(f"/api/records/{drone}/profile", headers=mod).status_code == 200
    assert drone in neighbours(mod)
    assert client.get(f"/api/records/{drone}/profile").status_code == 404
    assert client.get(f"/api/records/{drone}/similar").status_code == 404
    assert drone not in neighbours({})
    assert drone not in neighbours(_h(keys["u-editor"]))
    assert drone in neighbours(kel)  # the community's own members still see it
    # an item-level label on another record: the change of labels invalidates what the public was shown
    tek_item = world["ids"]["bd_tek"]
    assert records["bd_tek"] in neighbours({})
    label = _restrict(client, mod, "item", tek_item)
    assert records["bd_tek"] not in neighbours({})
    assert client.get(f"/api/records/{records['bd_tek']}/profile").status_code == 404
    assert client.delete(f"/api/protocol-labels/{label}", headers=mod).status_code == 200
    assert records["bd_tek"] in neighbours({})


def test_restricting_label_on_a_dataset_hides_it_and_its_export(world: dict[str, Any]) -> None:
    client, keys, ids = world["client"], world["keys"], world["ids"]
    mod, kel, ed = _h(keys["u-moderator"]), _h(keys["kel-member"]), _h(keys["u-editor"])
    d = client.post("/api/datasets", headers=kel, json={"name": "Kel songs", "members": [
        {"item_id": ids["ambi_choir"]}]}).json()
    public = client.post("/api/datasets", headers=ed, json={"name": "Public", "members": [
        {"item_id": ids["bd_haus"]}]}).json()
    _restrict(client, mod, "dataset", d["id"], code="tk_secret_sacred")
    for who in ({}, ed):
        for url in (f"/api/datasets/{d['id']}", f"/api/datasets/{d['id']}/export",
                    f"/api/datasets/{d['id']}/versions", f"/api/datasets/{d['id']}/licence"):
            assert client.get(url, headers=who).status_code == 404, (url, who)
        listed = client.get("/api/datasets", headers=who).json()
        assert [x["id"] for x in listed["items"]] == [public["id"]] and listed["total"] == 1
        r = client.post(f"/api/datasets/{d['id']}/members", headers=ed, json={"add": [{"item_id": ids["bd_tek"]}]})
        assert r.status_code == 404
    for who in (kel, mod):
        assert client.get(f"/api/datasets/{d['id']}", headers=who).status_code == 200
        r = client.get(f"/api/datasets/{d['id']}/export", headers=who)
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        assert client.get("/api/datasets", headers=who).json()["total"] == 2


def test_rejected_hides_opt_out_values_from_the_public(world: dict[str, Any]) -> None:
    client, keys, catalog = world["client"], world["keys"], world["catalog"]
    CrawlStore(catalog.db).record_rejected("internet_archive", "test2", "opted_out",
                            "the opt-out registry lists ia_uploader:someone.private@example.org")
    CrawlStore(catalog.db).record_rejected("zenodo", "123", "no_licence", "the source gives no licence")
    for who in ({}, _h(keys["u-editor"])):
        body = client.get("/api/rejected", headers=who).json()
        assert "someone.private" not in json.dumps(body)
        opted = next(r for r in body["items"] if r["reason"] == "opted_out")
        assert opted["detail"] == "the opt-out registry lists a ia_uploader entry"
        assert next(r for r in body["items"] if r["reason"] == "no_licence")["detail"] == \
            "the source gives no licence"
    body = client.get("/api/rejected", headers=_h(keys["u-moderator"])).json()
    assert "someone.private@example.org" in json.dumps(body)


def test_label_changes_belong_to_proposer_stewards_and_moderators(world: dict[str, Any]) -> None:
    client, keys, ids = world["client"], world["keys"], world["ids"]
    ed, other, steward = _h(keys["u-editor"]), _h(keys["u-other"]), _h(keys["u-steward"])
    member, mod = _h(keys["kel-member"]), _h(keys["u-moderator"])
    boot = _h("boot-token")
    client.post("/api/schemes", headers=ed, json={"slug": "kel", "name": "Kel words", "community": COMMUNITY,
                                                   "rule": {"steward_approval": True}, "stewards": ["u-steward"]})
    lab = client.post("/api/labels", headers=ed, json={"scheme": "kel", "text": "tende", "lang": "tmh",
                                                        "item_id": ids["sn_dub"]}).json()
    url = f"/api/labels/{lab['id']}"
    # other editors, a community member without stewardship, the bootstrap token: they vote, they do not rewrite
    for who in (other, member, boot):
        r = client.patch(url, headers=who, json={"text": "vandalised"})
        assert r.status_code == 403 and r.json()["code"] == "forbidden", r.text
        assert client.delete(url, headers=who).status_code == 403
        assert client.post(f"{url}/votes", headers=who, json={"value": 1}).status_code == 200
    assert client.patch(url, headers=ed, json={"description": "drum"}).status_code == 200  # the proposer, still
    # the bootstrap token names nobody else: the header is ignored and it cannot override a steward rule
    r = client.post("/api/labels", headers={**boot, "X-Tessera-User": "u-steward"},
                    json={"scheme": "kel", "text": "imzad", "lang": "tmh", "item_id": ids["ambi_choir"]})
    assert r.status_code == 201 and r.json()["created_by"] == "editor-token"
    boot_label = r.json()["id"]
    assert client.post(f"{url}/accept", headers={**boot, "X-Tessera-User": "u-steward"}).status_code == 403
    assert client.post(f"{url}/accept", headers=member).status_code == 403
    r = client.post(f"{url}/accept", headers=steward)
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    # accepted: the proposer no longer owns the words; the steward and moderators do
    assert client.patch(url, headers=ed, json={"text": "changed"}).status_code == 403
    assert client.delete(url, headers=ed).status_code == 403
    assert client.patch(url, headers=steward, json={"text": "tendé"}).json()["text"] == "tendé"
    r = client.delete(url, headers=mod, params={"reason": "asked by the community"})
    assert r.status_code == 200 and r.json()["status"] == "removed"
    hist = client.get(f"{url}/history").json()["items"]
    assert [(h["action"], h["actor"]) for h in hist][-3:] == [
        ("accept", "u-steward"), ("edit", "u-steward"), ("remove", "u-moderator")]
    # an admin may still accept over the rule, and the history says so
    r = client.post(f"/api/labels/{boot_label}/accept", headers=_h(keys["u-admin"]))
    assert r.status_code == 200
    assert client.get(f"/api/labels/{boot_label}/history").json()["items"][-1]["detail"]["by"] == "override"


def test_audio_cache_control(world: dict[str, Any]) -> None:
    client, keys, ids = world["client"], world["keys"], world["ids"]
    r = client.get(f"/api/items/{ids['bd_haus']}/audio")
    assert r.status_code == 200 and r.headers["cache-control"] == "public, max-age=300"
    assert client.get(f"/api/items/{ids['bd_haus']}/preview").headers["cache-control"] == "public, max-age=300"
    _restrict(client, _h(keys["u-moderator"]), "item", ids["ambi_drone"])
    for path in ("audio", "preview"):
        r = client.get(f"/api/items/{ids['ambi_drone']}/{path}", headers=_h(keys["kel-member"]))
        assert r.status_code == 200 and r.headers["cache-control"] == "private, max-age=300"
        assert client.get(f"/api/items/{ids['ambi_drone']}/{path}").status_code == 404


def test_account_and_consent_actions_are_audited(world: dict[str, Any]) -> None:
    client, keys, ids, accounts = world["client"], world["keys"], world["ids"], world["accounts"]
    adm, mod = _h(keys["u-admin"]), _h(keys["u-moderator"])
    assert client.post("/api/users", headers=adm, json={"name": "newcomer", "role": "editor"}).status_code == 201
    key = client.post("/api/users/newcomer/keys", headers=adm).json()["key"]
    prefix = key.split("_")[1]
    assert client.delete(f"/api/keys/{prefix}", headers=adm).status_code == 200
    accounts.set_role("newcomer", "moderator")  # the CLI's path: the operator acts
    r = client.post("/api/opt-outs", headers=mod, json={"kind": "ia_uploader", "value": "private@example.org",
                                                        "reason": "asked"})
    assert r.status_code == 201
    r = client.post("/api/consent/withdrawals", headers=mod,
                    json={"scope": "file", "target": str(ids["bd_zome"]), "reason": "rights holder asked"})
    assert r.status_code == 201
    entries = client.get("/api/audit", headers=mod).json()
    got = {(a["action"], a["actor"]) for a in entries["items"]}
    assert {("user_created", "u-admin"), ("key_issued", "u-admin"), ("key_revoked", "u-admin"),
            ("user_role_set", "operator"), ("opt_out_added", "u-moderator"),
            ("consent_withdraw", "u-moderator")} <= got, got
    assert entries["items"][0]["action"] == "consent_withdraw"  # newest first, across both logs
    assert entries["total"] >= 2 * len(keys) + 6  # every user created and key issued by the fixture too
    text_ = json.dumps(entries)
    assert key not in text_ and "private@example.org" not in text_  # the fact, not the secret or the person
    page2 = client.get("/api/audit", headers=mod, params={"limit": 2, "offset": 2}).json()["items"]
    assert page2 == entries["items"][2:4]


def test_timed_consent_lapses_through_the_apps_sweeper(world: dict[str, Any]) -> None:
    client, keys, ids = world["client"], world["keys"], world["ids"]
    mod, ed = _h(keys["u-moderator"]), _h(keys["u-editor"])
    lapsing, other = ids["sn_dub"], ids["bd_haus"]
    d = client.post("/api/datasets", headers=ed, json={"name": "Both", "members": [
        {"item_id": lapsing}, {"item_id": other}]}).json()

    def found() -> set[int]:
        hits = client.get("/api/search", params={"item": other, "limit": 20}).json()["items"]
        return {h["item"]["id"] for h in hits}

    assert lapsing in found()
    counts = {s["name"]: s["index"]["count"] for s in client.get("/api/spaces").json()["items"]}
    # consent given until a moment that has already passed: no waiting, no clock in the test
    past = datetime.now(UTC) - timedelta(minutes=1)
    r = client.post("/api/consent/periods", headers=mod,
                    json={"scope": "file", "target": str(lapsing), "expires_at": past.isoformat()})
    assert r.status_code == 201
    assert lapsing not in found() and client.get(f"/api/items/{lapsing}").status_code == 404
    w = sweep_consent_once(client.app.state.services)  # type: ignore[attr-defined]
    assert w.file_ids == [lapsing] and w.dataset_versions == [(d["id"], 2)]
    after = {s["name"]: s["index"]["count"] for s in client.get("/api/spaces").json()["items"]}
    assert after == {k: v - 1 for k, v in counts.items()}  # out of every faiss index
    assert lapsing not in found()
    versions = client.get(f"/api/datasets/{d['id']}/versions", params={"with_members": "true"}).json()["items"]
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[1]["origin"]["kind"] == "withdrawal" and versions[1]["origin"]["file_ids"] == [lapsing]
    assert [m["item_id"] for m in versions[1]["members"]] == [other]
    assert sweep_consent_once(client.app.state.services).file_ids == []  # type: ignore[attr-defined]
    events = client.get("/api/consent/events", headers=mod).json()["items"]
    assert events[-1]["action"] == "expire" and events[-1]["files"] == [lapsing]
