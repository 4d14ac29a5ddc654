"""Issue 19, findings 6 and 10 on datasets: only a dataset's curator (or a moderator) changes it, and a
community member cannot carry her community's restricted recordings into a public dataset."""

from __future__ import annotations

from collections.abc import Callable

from tessera.accounts.store import AccountStore
from tests.security.conftest import Server, bearer


def test_only_the_curator_or_a_moderator_changes_a_dataset(serve: Callable[..., Server]) -> None:
    srv = serve()
    accounts = AccountStore(srv.db)
    accounts.add_user("cal", "editor")
    cal = accounts.issue_key("cal")
    with srv.client() as c:
        item = c.get("/api/items").json()["items"][0]["id"]
        d = c.post("/api/datasets", json={"name": "Ben's kicks", "members": [{"item_id": item}]},
                   headers=bearer(srv.keys["ben"]))
        assert d.status_code == 201, d.text
        ds = d.json()["id"]
        edit = {"description": "someone else's purpose"}
        r = c.patch(f"/api/datasets/{ds}", json=edit, headers=bearer(cal))
        assert r.status_code == 403 and "curator (ben)" in r.text
        r = c.post(f"/api/datasets/{ds}/members", json={"remove": [{"item_id": item}]}, headers=bearer(cal))
        assert r.status_code == 403
        assert c.get(f"/api/datasets/{ds}").json()["latest_version"] == 1  # nothing changed
        assert c.patch(f"/api/datasets/{ds}", json={"description": "kicks"}, headers=bearer(srv.keys["ben"])
                       ).status_code == 200
        assert c.patch(f"/api/datasets/{ds}", json={"notes": "checked"}, headers=bearer(srv.keys["ana"])
                       ).status_code == 200  # an admin (a moderator) may
        assert c.patch(f"/api/datasets/{ds + 1000}", json=edit, headers=bearer(cal)).status_code == 404


def test_restricted_recordings_go_only_into_a_dataset_kept_from_the_public(serve: Callable[..., Server]) -> None:
    srv = serve()
    AccountStore(srv.db).set_communities("ben", ["Kin"])
    ana, ben = bearer(srv.keys["ana"]), bearer(srv.keys["ben"])
    with srv.client() as c:
        item = c.get("/api/items").json()["items"][0]
        r = c.post("/api/protocol-labels", json={"target_kind": "record", "target_id": item["source"]["record_id"],
                                                 "code": "tk_secret_sacred", "community": "Kin"}, headers=ana)
        assert r.status_code == 201, r.text
        assert c.get(f"/api/items/{item['id']}").status_code == 404  # hidden from the public
        assert c.get(f"/api/items/{item['id']}", headers=ben).status_code == 200  # ben is of Kin
        r = c.post("/api/datasets", json={"name": "Songs", "members": [{"item_id": item["id"]}]}, headers=ben)
        assert r.status_code == 403 and "cultural protocol" in r.text
        ds = c.post("/api/datasets", json={"name": "Songs"}, headers=ben).json()["id"]
        r = c.post(f"/api/datasets/{ds}/members", json={"add": [{"item_id": item["id"]}]}, headers=ben)
        assert r.status_code == 403
        assert c.post("/api/protocol-labels", json={"target_kind": "dataset", "target_id": ds,
                                                    "code": "tk_secret_sacred", "community": "Kin"},
                      headers=ana).status_code == 201
        r = c.post(f"/api/datasets/{ds}/members", json={"add": [{"item_id": item["id"]}]}, headers=ben)
        assert r.status_code == 201, r.text
        assert c.get(f"/api/datasets/{ds}").status_code == 404  # and the dataset is kept from the public
