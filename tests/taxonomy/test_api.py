"""The taxonomy API through the real app (SQLite from the settings fixture)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from rdflib import Graph, Literal
from rdflib.namespace import SKOS

from tessera.api.app import create_app
from tessera.api.routers import taxonomy as taxonomy_router
from tessera.catalog.visibility import OPERATOR
from tessera.compose import build
from tessera.core.settings import Settings
from tessera.taxonomy.store import TaxonomyStore
from tests.taxonomy.helpers import make_files, save

EDITOR = {"Authorization": "Bearer test-editor-token"}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(build(settings))
    if not any(getattr(r, "path", "").startswith("/api/clusterings") for r in app.routes):
        app.include_router(taxonomy_router.router)  # until the lead wires it into create_app
    with TestClient(app) as c:
        yield c


@pytest.fixture
def run_id(client: TestClient) -> int:
    app = client.app
    store = TaxonomyStore(app.state.services.db, OPERATOR)  # type: ignore[attr-defined]
    files = make_files(app.state.services.catalog(OPERATOR), 20)  # type: ignore[attr-defined]
    return save(store, files, [0] * 8 + [1] * 8 + [-1] * 4)


def test_runs_and_clusters(client: TestClient, run_id: int) -> None:
    r = client.get("/api/clusterings")
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 1 and body["items"][0]["id"] == run_id and body["next"] is None
    run = client.get(f"/api/clusterings/{run_id}").json()
    assert run["clusters"] == 2 and run["unclustered"] == 4 and len(run["points"]) == 20
    assert {"x", "y", "item_id", "cluster_id"} <= set(run["points"][0])
    cid = run["clusters_detail"][0]["id"]
    c = client.get(f"/api/clusters/{cid}").json()
    assert c["size"] == 8 and len(c["members"]) == 8 and c["explanation"]["summary"]
    for url in ("/api/clusterings/999", "/api/clusters/999", "/api/labels/999/history", "/api/schemes/x/skos"):
        r = client.get(url)
        assert r.status_code == 404 and r.json()["code"] == "not_found", url
    r = client.get("/api/clusterings/abc")
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"


def test_propose_vote_accept_history_skos(client: TestClient, run_id: int) -> None:
    cid = client.get(f"/api/clusterings/{run_id}").json()["clusters_detail"][0]["id"]
    scheme = {"slug": "walkers", "name": "Sound walkers", "community": "Walkers", "rule": {"min_net_votes": 2}}
    assert client.post("/api/schemes", json=scheme).status_code == 401
    r = client.post("/api/schemes", json=scheme, headers=EDITOR)
    assert r.status_code == 201 and r.json()["rule"] == {"min_net_votes": 2}
    assert client.post("/api/schemes", json=scheme, headers=EDITOR).status_code == 409
    bad = client.post("/api/schemes", json={**scheme, "slug": "x2", "rule": {"genre": 1}}, headers=EDITOR)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_input"
    assert client.get("/api/schemes").json()["total"] == 1

    # who acts comes from their own key (the bootstrap token cannot name anyone else)
    accounts = client.app.state.services.accounts  # type: ignore[attr-defined]
    as_ = {}
    for name, role in (("kofi", "editor"), ("ana", "editor"), ("ben", "editor"), ("root", "admin")):
        accounts.add_user(name, role)
        as_[name] = {"Authorization": f"Bearer {accounts.issue_key(name)}"}
    label = {"scheme": "walkers", "text": "rumble", "lang": "en", "cluster_id": cid, "description": "deep"}
    assert client.post("/api/labels", json=label).status_code == 401
    r = client.post("/api/labels", json=label, headers=as_["kofi"])
    assert r.status_code == 201
    lab = r.json()
    assert lab["status"] == "proposed" and lab["created_by"] == "kofi"
    assert client.post("/api/labels", json={**label, "lang": "en_GB"}, headers=EDITOR).status_code == 422
    assert client.post("/api/labels", json={**label, "cluster_id": 999}, headers=EDITOR).status_code == 404

    url = f"/api/labels/{lab['id']}"
    assert client.post(f"{url}/votes", json={"value": 1}).status_code == 401
    assert client.post(f"{url}/votes", json={"value": 3}, headers=EDITOR).status_code == 422
    v = client.post(f"{url}/votes", json={"value": 1}, headers=as_["ana"]).json()
    assert v["net_votes"] == 1 and v["status"] == "proposed"
    v = client.post(f"{url}/votes", json={"value": 1}, headers=as_["ben"]).json()
    assert v["status"] == "accepted"

    hist = client.get(f"{url}/history").json()
    assert [h["action"] for h in hist["items"]] == ["propose", "vote", "vote", "accept"]
    assert [h["actor"] for h in hist["items"]] == ["kofi", "ana", "ben", "ben"]
    run = client.get(f"/api/clusterings/{run_id}").json()
    assert [x["text"] for x in run["clusters_detail"][0]["labels"]] == ["rumble"]

    client.post("/api/schemes", json={"slug": "otra", "name": "Otra", "rule": {"steward_approval": True}},
                headers=EDITOR)
    other = client.post("/api/labels", json={**label, "scheme": "otra", "text": "retumbo", "lang": "es"},
                        headers=EDITOR).json()
    r = client.post(f"{url}/links", json={"other_label_id": other["id"], "kind": "closeMatch"}, headers=EDITOR)
    assert r.status_code == 201
    assert client.post(f"{url}/links", json={"other_label_id": other["id"], "kind": "sameAs"},
                       headers=EDITOR).status_code == 422
    # an admin may accept whatever the rule (recorded as an override); the bootstrap editor token may not
    assert client.post(f"/api/labels/{other['id']}/accept", headers=EDITOR).status_code == 403
    acc = client.post(f"/api/labels/{other['id']}/accept", headers=as_["root"]).json()
    assert acc["status"] == "accepted"
    assert client.get(f"/api/labels/{other['id']}/history").json()["items"][-1]["detail"]["by"] == "override"

    ttl = client.get("/api/schemes/walkers/skos")
    assert ttl.status_code == 200 and ttl.headers["content-type"].startswith("text/turtle")
    g = Graph().parse(data=ttl.text, format="turtle")
    assert Literal("rumble", lang="en") in set(g.objects(None, SKOS.prefLabel))
    assert len(list(g.triples((None, SKOS.closeMatch, None)))) == 1
    jl = client.get("/api/schemes/walkers/skos", params={"format": "json-ld"})
    assert jl.headers["content-type"].startswith("application/ld+json")
    assert len(Graph().parse(data=jl.text, format="json-ld")) == len(g)
    assert client.get("/api/schemes/walkers/skos", params={"format": "rdfxml"}).status_code == 422

    assert client.patch(url, json={"description": "very deep"}).status_code == 401
    # accepted: other editors (and the proposer) no longer rewrite or remove it; an admin may
    assert client.patch(url, json={"description": "very deep"}, headers=EDITOR).status_code == 403
    assert client.delete(url, headers=as_["kofi"]).status_code == 403
    assert client.patch(url, json={"description": "very deep"}, headers=as_["root"]).json()["description"] == \
        "very deep"
    gone = client.delete(url, params={"reason": "duplicate"}, headers=as_["root"])
    assert gone.status_code == 200 and gone.json()["status"] == "removed"
    actions = [(h["action"], h["actor"]) for h in client.get(f"{url}/history").json()["items"]]
    assert actions[-2:] == [("edit", "root"), ("remove", "root")]
    assert client.post(f"{url}/votes", json={"value": 1}, headers=EDITOR).status_code == 409


def test_steward_rule_with_user_keys(client: TestClient, run_id: int) -> None:
    accounts = client.app.state.services.accounts  # type: ignore[attr-defined]
    accounts.add_user("ama", "editor")
    accounts.add_user("bo", "editor")
    ama = {"Authorization": f"Bearer {accounts.issue_key('ama')}", "X-Tessera-User": "someone-else"}
    bo = {"Authorization": f"Bearer {accounts.issue_key('bo')}"}
    cid = client.get(f"/api/clusterings/{run_id}").json()["clusters_detail"][1]["id"]
    client.post("/api/schemes", json={"slug": "st", "name": "St", "rule": {"steward_approval": True},
                                      "stewards": ["ama"]}, headers=EDITOR)
    lab = client.post("/api/labels", json={"scheme": "st", "text": "kàn", "lang": "yo", "cluster_id": cid},
                      headers=bo).json()
    assert lab["created_by"] == "bo"
    r = client.post(f"/api/labels/{lab['id']}/accept", headers=bo)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = client.post(f"/api/labels/{lab['id']}/accept", headers=ama)
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    last = client.get(f"/api/labels/{lab['id']}/history").json()["items"][-1]
    assert last["actor"] == "ama" and last["detail"]["by"] == "steward"  # a user key cannot act as another
