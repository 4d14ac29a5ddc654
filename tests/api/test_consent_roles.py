"""Roles, keys, rate limits and consent that takes effect within one request cycle."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tessera.accounts.store import AccountStore
from tessera.api.app import create_app
from tessera.api.auth import SlidingWindow
from tessera.catalog.store import Catalog
from tessera.catalog.visibility import OPERATOR
from tessera.compose import build, consent_service
from tessera.core.db import Database
from tessera.core.settings import Settings
from tessera.crawlers.sources.folder import add_folder
from tessera.indexer.run import IndexParams, run_index
from tessera.indexer.store import IndexStore

ROLES = ("editor", "moderator", "admin")


@pytest.fixture
def world(tmp_path: Path, corpus_dir: Path) -> Iterator[dict[str, Any]]:
    settings = Settings(data_dir=tmp_path / "data", rate_limit_anonymous=1000, rate_limit_key=1000)
    settings.ensure_dirs()
    db = Database(settings.db_url)
    db.migrate()
    catalog = Catalog(db, OPERATOR)
    for name in ("bd_haus", "bd_tek", "bd_zome", "sn_dub", "ambi_choir"):
        add_folder(catalog, corpus_dir / f"{name}.flac", "CC0-1.0", "Sonic Pi contributors")
    add_folder(catalog, corpus_dir / "bd_fat.flac", "CC-BY-4.0", "Someone Else")
    run_index(IndexStore(catalog.db), settings.index_dir, IndexParams(), workers=1)
    accounts = AccountStore(db)
    keys = {}
    for role in ROLES:
        accounts.add_user(f"u-{role}", role)
        keys[role] = accounts.issue_key(f"u-{role}")
    with TestClient(create_app(build(settings))) as client:
        yield {"client": client, "keys": keys, "catalog": catalog, "settings": settings, "accounts": accounts}
    db.dispose()


def _h(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def _ids(client: TestClient) -> dict[str, int]:
    return {i["title"]: i["id"] for i in client.get("/api/items").json()["items"]}


# (method, path, json body, the least role that may do it)
MATRIX = [
    ("post", "/api/consent/withdrawals", {"scope": "creator", "target": "Nobody At All"}, "moderator"),
    ("post", "/api/consent/periods", {"scope": "creator", "target": "Nobody At All", "expires_at": None},
     "moderator"),
    ("get", "/api/consent/events", None, "moderator"),
    ("post", "/api/opt-outs", {"kind": "creator", "value": "Someone"}, "moderator"),
    ("get", "/api/opt-outs", None, "moderator"),
    ("post", "/api/users", {"name": "new-user", "role": "editor"}, "admin"),
    ("get", "/api/users", None, "admin"),
    ("post", "/api/users/u-editor/keys", None, "admin"),
    ("delete", "/api/keys/00000000", None, "admin"),
]
RANK = {"anonymous": 0, "editor": 1, "moderator": 2, "admin": 3}


def test_role_matrix(world: dict[str, Any]) -> None:
    client, keys = world["client"], world["keys"]
    for method, path, body, least in MATRIX:
        for role in ("anonymous", *ROLES):
            r = client.request(method, path, json=body, headers=_h(keys.get(role)))
            if RANK[role] >= RANK[least]:
                # allowed: the request reaches the handler (404 for a target that does not exist is fine)
                assert r.status_code in (200, 201, 404, 409), (method, path, role, r.text)
            else:
                assert r.status_code == (401 if role == "anonymous" else 403), (method, path, role, r.text)
                assert r.json()["code"] in ("unauthorized", "forbidden")


# Open to everyone (test_moderation and tests/search cover them): search, report, sign in and out.
OPEN_TO_ALL = {("post", "/api/logout"), ("post", "/api/login"), ("post", "/api/reports"), ("post", "/api/search")}


def _valid_calls(client: TestClient, keys: dict[str, str], ids: dict[str, int], n: int
                 ) -> dict[tuple[str, str], tuple[str, dict[str, Any] | None]]:
    """For every write endpoint: a concrete URL and a valid body for fresh targets (the least role acts)."""
    ed, mod, adm = _h(keys["editor"]), _h(keys["moderator"]), _h(keys["admin"])
    item = ids["bd_tek"]
    slug = f"scheme-{n}"
    assert client.post("/api/schemes", headers=ed, json={"slug": slug, "name": "S", "rule": {"min_net_votes": 1}}
                       ).status_code == 201
    client.post("/api/schemes", headers=ed, json={"slug": f"{slug}-b", "name": "B", "rule": {"min_net_votes": 1}})
    client.post("/api/schemes", headers=ed, json={"slug": f"{slug}-st", "name": "St", "stewards": ["u-editor"],
                                                   "rule": {"steward_approval": True}})

    def label(scheme: str = slug, by: dict[str, str] = ed) -> int:
        r = client.post("/api/labels", headers=by, json={"scheme": scheme, "text": f"t{n}", "lang": "en",
                                                          "item_id": item})
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    ds = client.post("/api/datasets", headers=ed, json={"name": f"d{n}", "members": [{"item_id": item}]}).json()
    report = client.post("/api/reports", json={"target_kind": "item", "target_id": item, "reason": "other"}).json()
    prot = client.post("/api/protocol-labels", headers=mod, json={
        "target_kind": "item", "target_id": item, "code": "tk_attribution", "community": "C"}).json()
    user = f"user-{n}"
    client.post("/api/users", headers=adm, json={"name": user, "role": "editor"})
    prefix = client.post(f"/api/users/{user}/keys", headers=adm).json()["key"].split("_")[1]
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    return {
        ("post", "/api/datasets"): ("/api/datasets", {"name": f"new-{n}", "members": [{"item_id": item}]}),
        ("post", "/api/datasets/{dataset_id}/members"): (f"/api/datasets/{ds['id']}/members",
                                                         {"add": [{"item_id": ids["bd_zome"]}]}),
        ("patch", "/api/datasets/{dataset_id}"): (f"/api/datasets/{ds['id']}", {"description": "purpose"}),
        ("post", "/api/schemes"): ("/api/schemes", {"slug": f"{slug}-new", "name": "N",
                                                    "rule": {"min_net_votes": 2}}),
        ("post", "/api/labels"): ("/api/labels", {"scheme": slug, "text": "new", "lang": "en", "item_id": item}),
        ("patch", "/api/labels/{label_id}"): (f"/api/labels/{label()}", {"description": "edited"}),
        ("delete", "/api/labels/{label_id}"): (f"/api/labels/{label()}", None),
        ("post", "/api/labels/{label_id}/votes"): (f"/api/labels/{label(by=adm)}/votes", {"value": 1}),
        ("post", "/api/labels/{label_id}/accept"): (f"/api/labels/{label(f'{slug}-st', adm)}/accept",
                                                    None),  # someone else's: nobody accepts their own
        ("post", "/api/labels/{label_id}/links"): (f"/api/labels/{label()}/links",
                                                   {"other_label_id": label(f"{slug}-b"), "kind": "closeMatch"}),
        ("post", "/api/labels/{label_id}/purge"): (f"/api/labels/{label()}/purge", None),
        ("post", "/api/consent/withdrawals"): ("/api/consent/withdrawals",
                                               {"scope": "creator", "target": "Someone Else"}),
        ("post", "/api/consent/periods"): ("/api/consent/periods",
                                           {"scope": "file", "target": str(item), "expires_at": later}),
        ("post", "/api/opt-outs"): ("/api/opt-outs", {"kind": "creator", "value": f"Someone {n}"}),
        ("post", "/api/reports/{report_id}/resolve"): (f"/api/reports/{report['id']}/resolve",
                                                       {"action": "dismiss"}),
        ("post", "/api/protocol-labels"): ("/api/protocol-labels", {
            "target_kind": "item", "target_id": item, "code": "tk_attribution", "community": "D"}),
        ("delete", "/api/protocol-labels/{label_id}"): (f"/api/protocol-labels/{prot['id']}", None),
        ("post", "/api/users"): ("/api/users", {"name": f"fresh-{n}", "role": "editor"}),
        ("post", "/api/users/{name}/keys"): (f"/api/users/{user}/keys", None),
        ("put", "/api/users/{name}/communities"): (f"/api/users/{user}/communities", {"communities": ["C"]}),
        ("delete", "/api/keys/{prefix}"): (f"/api/keys/{prefix}", None),
    }


def test_every_write_endpoint_refuses_anonymous(world: dict[str, Any]) -> None:
    """With a valid body: the public gets 401, a lesser role 403, the least allowed role a 2xx."""
    from tests.api.test_moderation import LEAST_ROLE

    client, keys = world["client"], world["keys"]
    spec = client.get("/openapi.json").json()
    writes = {(m, p) for p, ops in spec["paths"].items() for m in ops if m in ("post", "put", "patch", "delete")}
    assert len(writes) >= 6
    ids = _ids(client)
    for n, (method, path) in enumerate(sorted(writes - OPEN_TO_ALL)):
        calls = _valid_calls(client, keys, ids, n)
        assert (method, path) in calls, f"give {method.upper()} {path} a valid call in _valid_calls"
        url, body = calls[(method, path)]
        least = LEAST_ROLE[(method, path)]
        r = client.request(method, url, json=body)
        assert r.status_code == 401 and r.json()["code"] == "unauthorized", (method, path, r.text)
        for role in ROLES:
            if RANK[role] < RANK[least]:
                r = client.request(method, url, json=body, headers=_h(keys[role]))
                assert r.status_code == 403, (method, path, role, r.text)
        r = client.request(method, url, json=body, headers=_h(keys[least]))
        assert 200 <= r.status_code < 300, (method, path, least, r.status_code, r.text)


def test_revoked_and_bad_keys(world: dict[str, Any]) -> None:
    client, keys, accounts = world["client"], world["keys"], world["accounts"]
    assert client.get("/api/users", headers=_h(keys["admin"])).status_code == 200
    accounts.revoke_key(keys["admin"].split("_")[1])
    r = client.get("/api/users", headers=_h(keys["admin"]))
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    assert client.get("/api/items", headers={"Authorization": "Basic abc"}).status_code == 401


def test_withdrawal_takes_effect_in_one_request_cycle(world: dict[str, Any]) -> None:
    client, keys, settings = world["client"], world["keys"], world["settings"]
    ids = _ids(client)
    kick = ids["bd_haus"]
    before = [n["item"]["id"] for n in client.get(f"/api/items/{ids['bd_tek']}/similar?k=5").json()["items"]]
    assert kick in before
    r = client.post("/api/consent/withdrawals", json={"scope": "file", "target": str(kick), "reason": "asked"},
                    headers=_h(keys["moderator"]))
    assert r.status_code == 201 and r.json()["withdrawn"] == [kick]
    # gone from the item, the listing, similarity answers and as a query
    assert client.get(f"/api/items/{kick}").status_code == 404
    assert kick not in _ids(client)
    after = [n["item"]["id"] for n in client.get(f"/api/items/{ids['bd_tek']}/similar?k=5").json()["items"]]
    assert kick not in after
    assert client.get(f"/api/items/{kick}/audio").status_code == 404
    # the faiss index itself no longer holds it (updated without a full rebuild)
    spaces = client.get("/api/spaces").json()["items"]
    assert all(s["index"]["count"] == 5 for s in spaces)
    # the audit entry keeps who/what/why, not the content
    events = client.get("/api/consent/events", headers=_h(keys["moderator"])).json()["items"]
    assert events[-1]["action"] == "withdraw" and events[-1]["actor"] == "u-moderator"
    assert world["catalog"].get_features(kick) is None
    assert settings.index_dir.exists()


def test_withdraw_everything_by_a_creator(world: dict[str, Any]) -> None:
    client, keys = world["client"], world["keys"]
    r = client.post("/api/consent/withdrawals", json={"scope": "creator", "target": "someone else"},
                    headers=_h(keys["admin"]))
    assert r.status_code == 201 and len(r.json()["withdrawn"]) == 1
    assert "bd_fat" not in _ids(client)


def test_timed_consent_expires_by_itself(world: dict[str, Any]) -> None:
    client, keys, catalog, settings = world["client"], world["keys"], world["catalog"], world["settings"]
    ids = _ids(client)
    soon = datetime.now(UTC) + timedelta(seconds=2)
    r = client.post("/api/consent/periods", headers=_h(keys["moderator"]),
                    json={"scope": "file", "target": str(ids["sn_dub"]), "expires_at": soon.isoformat()})
    assert r.status_code == 201
    assert client.get(f"/api/items/{ids['sn_dub']}").status_code == 200
    # once the date has passed, every query hides it, before any sweep ...
    w = consent_service(catalog.db, settings).sweep(at=soon - timedelta(seconds=1))
    assert w.file_ids == []
    import time

    time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.1)
    assert client.get(f"/api/items/{ids['sn_dub']}").status_code == 404
    sims = client.get(f"/api/items/{ids['bd_haus']}/similar?k=5").json()["items"]
    assert ids["sn_dub"] not in [n["item"]["id"] for n in sims]
    # ... and the sweep purges features and vectors like a withdrawal
    w = consent_service(catalog.db, settings).sweep()
    assert w.file_ids == [ids["sn_dub"]] and catalog.get_features(ids["sn_dub"]) is None


def test_anonymous_page_size_is_capped(world: dict[str, Any]) -> None:
    client, keys = world["client"], world["keys"]
    r = client.get("/api/items?limit=100")
    assert r.status_code == 403 and r.json()["code"] == "page_too_large"
    assert client.get("/api/items?limit=100", headers=_h(keys["editor"])).status_code == 200


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", rate_limit_anonymous=5)
    with TestClient(create_app(build(settings))) as client:
        codes = [client.get("/api/items").status_code for _ in range(7)]
        assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
        r = client.get("/api/features")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert r.json()["code"] == "rate_limited"
        assert client.get("/health").status_code == 200  # health checks are never limited


def test_sliding_window_with_a_fake_clock() -> None:
    now = [0.0]
    w = SlidingWindow(3, 10.0, clock=lambda: now[0])
    assert [w.hit("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert w.hit("a") == pytest.approx(10.0)
    assert w.hit("b") == 0.0  # per key
    now[0] = 10.5
    assert w.hit("a") == 0.0
