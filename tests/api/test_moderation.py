"""The whole role × endpoint matrix, web sign-in, reports and the moderation queue, cultural protocol labels."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tessera.accounts.store import AccountStore
from tessera.api.app import create_app
from tessera.catalog.store import Catalog
from tessera.catalog.visibility import OPERATOR
from tessera.compose import build
from tessera.core.db import Database
from tessera.core.settings import Settings
from tessera.crawlers.sources.folder import add_folder
from tessera.indexer.run import IndexParams, run_index
from tessera.indexer.store import IndexStore

ROLES = ("editor", "moderator", "admin")
RANK = {"anonymous": 0, "editor": 1, "moderator": 2, "admin": 3}
PASSWORD = "correct horse battery"

# Every write endpoint, and every read reserved to a role, with the least role that may call it.
# A new endpoint that is not listed here fails test_full_role_matrix: its access must be decided.
LEAST_ROLE = {
    ("post", "/api/search"): "anonymous",
    ("post", "/api/reports"): "anonymous",
    ("post", "/api/login"): "anonymous",
    ("post", "/api/logout"): "anonymous",
    ("post", "/api/datasets"): "editor",
    ("post", "/api/datasets/{dataset_id}/members"): "editor",
    ("patch", "/api/datasets/{dataset_id}"): "editor",
    ("post", "/api/schemes"): "editor",
    ("post", "/api/labels"): "editor",
    ("patch", "/api/labels/{label_id}"): "editor",
    ("delete", "/api/labels/{label_id}"): "editor",
    ("post", "/api/labels/{label_id}/votes"): "editor",
    ("post", "/api/labels/{label_id}/accept"): "editor",
    ("post", "/api/labels/{label_id}/links"): "editor",
    ("post", "/api/labels/{label_id}/purge"): "moderator",
    ("post", "/api/consent/withdrawals"): "moderator",
    ("post", "/api/consent/periods"): "moderator",
    ("get", "/api/consent/events"): "moderator",
    ("post", "/api/opt-outs"): "moderator",
    ("get", "/api/opt-outs"): "moderator",
    ("get", "/api/reports"): "moderator",
    ("get", "/api/reports/{report_id}"): "moderator",
    ("post", "/api/reports/{report_id}/resolve"): "moderator",
    ("get", "/api/audit"): "moderator",
    ("post", "/api/protocol-labels"): "moderator",
    ("delete", "/api/protocol-labels/{label_id}"): "moderator",
    ("post", "/api/users"): "admin",
    ("get", "/api/users"): "admin",
    ("post", "/api/users/{name}/keys"): "admin",
    ("put", "/api/users/{name}/communities"): "admin",
    ("delete", "/api/keys/{prefix}"): "admin",
}


@pytest.fixture
def world(tmp_path: Path, corpus_dir: Path) -> Iterator[dict[str, Any]]:
    settings = Settings(data_dir=tmp_path / "data", rate_limit_anonymous=10000, rate_limit_key=10000,
                        rate_limit_audio_anonymous=10000)
    settings.ensure_dirs()
    db = Database(settings.db_url)
    db.migrate()
    catalog = Catalog(db, OPERATOR)
    records = {}
    for name in ("bd_haus", "bd_tek", "bd_zome", "sn_dub", "ambi_choir", "ambi_drone"):
        records[name] = add_folder(catalog, corpus_dir / f"{name}.flac", "CC0-1.0", "Sonic Pi contributors").record_id
    run_index(IndexStore(catalog.db), settings.index_dir, IndexParams(), workers=1)
    accounts = AccountStore(db)
    keys = {}
    for role in ROLES:
        accounts.add_user(f"u-{role}", role)
        keys[role] = accounts.issue_key(f"u-{role}")
    accounts.add_user("kel-member", "editor")
    accounts.set_communities("kel-member", ["Kel Tamasheq"])
    keys["kel-member"] = accounts.issue_key("kel-member")
    accounts.add_user("u-steward", "editor")  # made a steward of a scheme below
    keys["steward"] = accounts.issue_key("u-steward")
    with TestClient(create_app(build(settings))) as client:
        ids = {i["title"]: i["id"] for i in client.get("/api/items").json()["items"]}
        r = client.post("/api/schemes", headers=_h(keys["editor"]), json={
            "slug": "kel-words", "name": "Kel words", "community": "Kel Tamasheq",
            "rule": {"steward_approval": True}, "stewards": ["u-steward"]})
        assert r.status_code == 201, r.text
        yield {"client": client, "keys": keys, "catalog": catalog, "accounts": accounts, "ids": ids,
               "records": records}
    db.dispose()


def _h(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def _concrete(path: str) -> str:
    return path.replace("{name}", "u-editor").replace("{prefix}", "00000000").replace("{slug}", "none").replace(
        "{", "").replace("}", "").replace("dataset_id", "1").replace("label_id", "1").replace("report_id", "1")


def test_full_role_matrix(world: dict[str, Any]) -> None:
    client, keys = world["client"], world["keys"]
    spec = client.get("/openapi.json").json()
    writes = {(m, p) for p, ops in spec["paths"].items() for m in ops if m in ("post", "put", "patch", "delete")}
    assert writes <= set(LEAST_ROLE), f"decide who may call: {sorted(writes - set(LEAST_ROLE))}"
    assert set(LEAST_ROLE) <= {(m, p) for p, ops in spec["paths"].items() for m in ops}
    for (method, path), least in sorted(LEAST_ROLE.items()):
        if path == "/api/logout":
            continue  # would end the caller's session; covered in test_sign_in
        # a steward and a community member hold the editor role: their extra rights are per scheme or
        # per community, never an endpoint of their own
        for role in ("anonymous", *ROLES, "steward", "kel-member"):
            r = client.request(method, _concrete(path), json={}, headers=_h(keys.get(role)))
            if RANK.get(role, RANK["editor"]) >= RANK[least]:
                # let through: the handler or validation answers (never an auth error, never a 500)
                assert r.status_code not in (401, 403, 500) or path == "/api/login", (method, path, role, r.text)
            else:
                assert r.status_code == (401 if role == "anonymous" else 403), (method, path, role, r.text)
                assert r.json()["code"] in ("unauthorized", "forbidden")


def test_sign_in(world: dict[str, Any]) -> None:
    client, accounts = world["client"], world["accounts"]
    accounts.set_password("u-moderator", PASSWORD)
    assert client.post("/api/login", json={"name": "u-moderator", "password": "wrong password!"}).status_code == 401
    assert client.post("/api/login", json={"name": "nobody", "password": PASSWORD}).status_code == 401
    r = client.post("/api/login", json={"name": "u-moderator", "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    token = body["token"]
    assert body["user"] == {"name": "u-moderator", "role": "moderator", "communities": []}
    assert datetime.fromisoformat(body["expires_at"]) > datetime.now(UTC) + timedelta(hours=11)
    assert client.get("/api/me", headers=_h(token)).json()["role"] == "moderator"
    assert client.get("/api/me").json() == {"name": None, "role": "anonymous", "communities": []}
    assert client.get("/api/reports", headers=_h(token)).status_code == 200
    assert client.post("/api/logout", headers=_h(token)).status_code == 200
    assert client.get("/api/me", headers=_h(token)).status_code == 401
    # signing out with a long-lived API key does not revoke it
    key = world["keys"]["editor"]
    assert client.post("/api/logout", headers=_h(key)).status_code == 200
    assert client.get("/api/me", headers=_h(key)).json()["name"] == "u-editor"
    with pytest.raises(Exception, match="at least 10"):
        accounts.set_password("u-editor", "short")


def test_reports_queue_and_audit(world: dict[str, Any]) -> None:
    client, keys, ids = world["client"], world["keys"], world["ids"]
    mod = _h(keys["moderator"])
    kick = ids["bd_haus"]
    r = client.post("/api/reports", json={"target_kind": "item", "target_id": kick, "reason": "wrong_licence",
                                          "text": "this is from a commercial sample pack"})
    assert r.status_code == 201 and r.json()["reporter"] == "anonymous" and r.json()["status"] == "open"
    item_report = r.json()["id"]
    assert client.post("/api/reports", json={"target_kind": "item", "target_id": 999999,
                                             "reason": "harmful"}).status_code == 404
    assert client.post("/api/reports", json={"target_kind": "item", "target_id": kick,
                                             "reason": "boring"}).status_code == 422
    # a label, reported for cultural sensitivity
    ed = _h(keys["editor"])
    client.post("/api/schemes", headers=ed, json={"slug": "s", "name": "S", "rule": {"min_net_votes": 2}})
    lab = client.post("/api/labels", headers=ed, json={"scheme": "s", "text": "a name that must go", "lang": "en",
                                                        "item_id": ids["ambi_choir"]}).json()
    r = client.post("/api/reports", headers=ed, json={"target_kind": "label", "target_id": lab["id"],
                                                       "reason": "cultural_sensitivity"})
    label_report = r.json()["id"]
    assert r.json()["reporter"] == "u-editor"

    queue = client.get("/api/reports", headers=mod).json()
    assert [x["id"] for x in queue["items"]] == [item_report, label_report]
    assert client.get("/api/reports", headers=ed).status_code == 403

    # the wrong action for the target is refused, and the report stays open
    r = client.post(f"/api/reports/{item_report}/resolve", headers=mod, json={"action": "purge_label"})
    assert r.status_code == 422
    r = client.post(f"/api/reports/{item_report}/resolve", headers=mod,
                    json={"action": "withdraw_item", "note": "confirmed with the uploader"})
    assert r.status_code == 200 and r.json()["status"] == "resolved" and r.json()["handled_by"] == "u-moderator"
    assert client.get(f"/api/items/{kick}").status_code == 404
    assert client.post(f"/api/reports/{item_report}/resolve", headers=mod, json={"action": "dismiss"}).status_code \
        == 409

    r = client.post(f"/api/reports/{label_report}/resolve", headers=mod, json={"action": "purge_label"})
    assert r.status_code == 200
    gone = client.get(f"/api/labels/{lab['id']}").json()
    assert "must go" not in gone["text"] and gone["status"] == "removed"
    history = client.get(f"/api/labels/{lab['id']}/history").json()["items"]
    assert history and all("must go" not in str(h["detail"]) for h in history)

    assert [x["id"] for x in client.get("/api/reports", headers=mod).json()["items"]] == []
    audit = client.get("/api/audit", headers=mod).json()["items"]
    actions = {a["action"] for a in audit}
    assert {"report_resolved", "label_purged"} <= actions
    assert all("must go" not in str(a) for a in audit)  # the audit keeps the fact, not the content


def test_protocol_labels_are_shown_and_enforced(world: dict[str, Any]) -> None:
    client, keys, ids = world["client"], world["keys"], world["ids"]
    mod, kel, ed = _h(keys["moderator"]), _h(keys["kel-member"]), _h(keys["editor"])
    drone, choir = ids["ambi_drone"], ids["ambi_choir"]
    # a notice that does not restrict: shown to everyone, on the item and in every answer about it
    r = client.post("/api/protocol-labels", headers=mod, json={
        "target_kind": "item", "target_id": choir, "code": "tk_attribution", "community": "Kel Tamasheq",
        "text": "Credit the Kel Tamasheq singers"})
    assert r.status_code == 201 and r.json()["restricts"] is False
    shown = client.get(f"/api/items/{choir}").json()["protocol_labels"]
    assert [p["name"] for p in shown] == ["TK Attribution"]
    listed = {i["id"]: i for i in client.get("/api/items").json()["items"]}
    assert listed[choir]["protocol_labels"][0]["community"] == "Kel Tamasheq"

    # a dataset made while both were public (the restricting label below comes later)
    d = client.post("/api/datasets", headers=kel, json={"name": "Kel", "members": [
        {"item_id": drone}, {"item_id": choir}]}).json()
    assert d["latest"]["member_count"] == 2

    # community use only: hidden from the public and other editors, visible to members and moderators
    r = client.post("/api/protocol-labels", headers=mod, json={
        "target_kind": "item", "target_id": drone, "code": "tk_community_use_only", "community": "Kel Tamasheq"})
    assert r.status_code == 201 and r.json()["restricts"] is True
    restricted_label = r.json()["id"]
    for who in ({}, ed):
        assert client.get(f"/api/items/{drone}", headers=who).status_code == 404
        assert drone not in {i["id"] for i in client.get("/api/items", headers=who).json()["items"]}
        sim = client.get(f"/api/items/{choir}/similar", params={"k": 10}, headers=who).json()["items"]
        assert drone not in {n["item"]["id"] for n in sim}
        hits = client.get("/api/search", params={"item": choir, "limit": 20}, headers=who).json()["items"]
        assert drone not in {h["item"]["id"] for h in hits}
        assert client.get(f"/api/items/{drone}/audio", headers=who).status_code == 404
    for who in (kel, mod):
        r = client.get(f"/api/items/{drone}", headers=who)
        assert r.status_code == 200 and r.json()["protocol_labels"][0]["code"] == "tk_community_use_only"
        sim = client.get(f"/api/items/{choir}/similar", params={"k": 10}, headers=who).json()["items"]
        assert drone in {n["item"]["id"] for n in sim}

    # a member cannot carry it into another public dataset; the earlier one keeps it, and an outsider's
    # export of that one lists it as restricted and ships nothing of it
    r = client.post("/api/datasets", headers=kel, json={"name": "Kel too", "members": [{"item_id": drone}]})
    assert r.status_code == 403 and "cultural protocol" in r.text
    r = client.post("/api/protocol-labels", headers=mod, json={
        "target_kind": "dataset", "target_id": d["id"], "code": "bc_provenance", "community": "Kel Tamasheq"})
    assert r.status_code == 201
    assert client.get(f"/api/datasets/{d['id']}").json()["protocol_labels"][0]["name"] == "BC Provenance"
    import io
    import json
    import zipfile

    def manifest(headers: dict[str, str]) -> dict[int, dict[str, Any]]:
        z = zipfile.ZipFile(io.BytesIO(client.get(f"/api/datasets/{d['id']}/export", headers=headers).content))
        rows = [json.loads(x) for x in z.read("kel/manifest.jsonl").decode().splitlines()]
        return {r["file_id"]: r for r in rows}

    assert manifest(ed)[drone]["status"] == "restricted" and "title" not in manifest(ed)[drone]
    inside = manifest(kel)
    assert inside[drone]["status"] == "active"
    assert inside[drone]["protocol_labels"] == ["TK Community Use Only (Kel Tamasheq)"]
    assert inside[choir]["protocol_labels"] == ["TK Attribution (Kel Tamasheq): Credit the Kel Tamasheq singers"]

    # taken off: visible again; the audit keeps both actions
    assert client.delete(f"/api/protocol-labels/{restricted_label}", headers=mod).status_code == 200
    assert client.get(f"/api/items/{drone}").status_code == 200
    actions = [a["action"] for a in client.get("/api/audit", headers=mod).json()["items"]]
    assert actions.count("protocol_label_added") == 3 and "protocol_label_removed" in actions


def test_seasonal_and_record_labels(world: dict[str, Any]) -> None:
    client, keys, ids, records = world["client"], world["keys"], world["ids"], world["records"]
    mod = _h(keys["moderator"])
    today = datetime.now(UTC)
    in_season = ((today - timedelta(days=3)).strftime("%m-%d"), (today + timedelta(days=3)).strftime("%m-%d"))
    off_season = ((today + timedelta(days=30)).strftime("%m-%d"), (today + timedelta(days=60)).strftime("%m-%d"))
    sn, tek = ids["sn_dub"], ids["bd_tek"]
    for item, (start, end) in ((sn, in_season), (tek, off_season)):
        r = client.post("/api/protocol-labels", headers=mod, json={
            "target_kind": "item", "target_id": item, "code": "tk_seasonal", "community": "Kel Tamasheq",
            "season_start": start, "season_end": end})
        assert r.status_code == 201, r.text
    assert client.get(f"/api/items/{sn}").status_code == 200  # in its season: heard by all
    assert client.get(f"/api/items/{tek}").status_code == 404  # out of season: community only
    assert client.get(f"/api/items/{tek}", headers=_h(keys["kel-member"])).status_code == 200
    # a label on a whole source record covers its items
    zome = ids["bd_zome"]
    r = client.post("/api/protocol-labels", headers=mod, json={
        "target_kind": "record", "target_id": records["bd_zome"], "code": "tk_secret_sacred",
        "community": "Another Community"})
    assert r.status_code == 201
    assert client.get(f"/api/items/{zome}").status_code == 404
    assert client.get(f"/api/items/{zome}", headers=_h(keys["kel-member"])).status_code == 404
    assert client.get(f"/api/items/{zome}", headers=mod).json()["protocol_labels"][0]["name"] == "TK Secret / Sacred"
    # bad input is a clear 4xx
    for bad in ({"target_kind": "item", "target_id": sn, "code": "tk_made_up", "community": "x"},
                {"target_kind": "item", "target_id": sn, "code": "tk_seasonal", "community": "x",
                 "season_start": "13-01", "season_end": "01-01"},
                {"target_kind": "item", "target_id": 999999, "code": "tk_attribution", "community": "x"}):
        r = client.post("/api/protocol-labels", headers=mod, json=bad)
        assert r.status_code in (404, 422), (bad, r.text)
    kinds = {k["code"]: k for k in client.get("/api/protocol-kinds").json()}
    assert kinds["tk_community_use_only"]["restricts"] and not kinds["bc_provenance"]["restricts"]


def test_previews_stay_open_and_go_with_consent(world: dict[str, Any]) -> None:
    import io

    import soundfile as sf

    client, keys, ids = world["client"], world["keys"], world["ids"]
    settings = client.app.state.services.settings  # type: ignore[attr-defined]
    drone = ids["ambi_drone"]
    settings.audio_requires_key = True
    try:
        assert client.get(f"/api/items/{drone}/audio").status_code == 401
        assert client.get(f"/api/items/{drone}/audio", headers=_h(keys["editor"])).status_code == 200
        r = client.get(f"/api/items/{drone}/preview")
    finally:
        settings.audio_requires_key = False
    assert r.status_code == 200 and r.headers["content-type"] == "audio/ogg"
    y, sr = sf.read(io.BytesIO(r.content))
    duration = client.get(f"/api/items/{drone}").json()["duration"]
    assert sr == 22050 and y.ndim == 1 and abs(len(y) / sr - min(duration, 20.0)) < 0.05
    assert np.abs(y).max() > 0.01  # real sound, not silence
    cached = settings.previews_dir / f"{drone}.ogg"
    assert cached.is_file()
    assert client.get("/api/items/999999/preview").status_code == 404
    r = client.post("/api/consent/withdrawals", headers=_h(keys["moderator"]),
                    json={"scope": "file", "target": str(drone)})
    assert r.status_code == 201
    assert not cached.exists() and client.get(f"/api/items/{drone}/preview").status_code == 404
