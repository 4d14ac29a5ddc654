"""A dataset carved from a cluster and from a community label, exported with cluster and labels;
then consent is withdrawn for one member and the dataset follows."""

from __future__ import annotations

import io
import json
import zipfile

from fastapi.testclient import TestClient

from tessera.catalog.store import Catalog
from tessera.catalog.visibility import OPERATOR
from tessera.indexer.store import IndexStore
from tessera.taxonomy.cluster import ClusterParams
from tessera.taxonomy.service import run_clustering
from tessera.taxonomy.store import TaxonomyStore
from tests.search.conftest import indexed  # noqa: F401  (package fixture shared with search tests)

AUTH = {"Authorization": "Bearer test-editor-token"}


def _manifest(client: TestClient, dataset_id: int, version: int) -> list[dict]:
    r = client.get(f"/api/datasets/{dataset_id}/export", params={"version": version})
    assert r.status_code == 200, r.text
    z = zipfile.ZipFile(io.BytesIO(r.content))
    name = next(n for n in z.namelist() if n.endswith("/manifest.jsonl"))
    return [json.loads(x) for x in z.read(name).decode().splitlines()]


def test_dataset_from_cluster_and_label_then_withdrawal(indexed) -> None:  # noqa: F811
    client, _ids, _audio = indexed
    catalog: Catalog = client.app.state.services.catalog(OPERATOR)  # type: ignore[attr-defined]
    store = TaxonomyStore(catalog.db, OPERATOR)
    rep = run_clustering(IndexStore(catalog.db), store, ClusterParams(seed=5, min_cluster_size=3), created_by="test")
    assert rep.clusters >= 1, rep
    run = client.get(f"/api/clusterings/{rep.run_id}").json()
    cluster = max(run["clusters_detail"], key=lambda c: c["size"])
    members = {p["item_id"] for p in run["points"] if p["cluster_id"] == cluster["id"]}

    # the cluster filter works on plain browse and in the search API
    r = client.get("/api/search", params={"cluster": cluster["id"], "limit": 50})
    assert r.status_code == 200 and {h["item"]["id"] for h in r.json()["items"]} == members

    # a community names it; the label filter finds the same items through the cluster
    client.post("/api/schemes", headers=AUTH, json={"slug": "makers", "name": "Makers' words",
                                                     "rule": {"min_net_votes": 1}})
    lab = client.post("/api/labels", headers=AUTH, json={"scheme": "makers", "text": "Dumpfe Schläge",
                                                          "lang": "de", "cluster_id": cluster["id"]}).json()
    # another editor's vote accepts it (nobody votes on her own label; no header changes who acts)
    accounts = client.app.state.services.accounts  # type: ignore[attr-defined]
    accounts.add_user("bea", "editor")
    bea = {"Authorization": f"Bearer {accounts.issue_key('bea')}"}
    assert client.post(f"/api/labels/{lab['id']}/votes", headers=bea, json={"value": 1}).status_code == 200
    assert client.get(f"/api/labels/{lab['id']}").json()["status"] == "accepted"
    r = client.get("/api/search", params={"label": "dumpfe schläge", "limit": 50})
    assert {h["item"]["id"] for h in r.json()["items"]} == members

    # datasets from the cluster and from the label hold exactly its members
    r = client.post("/api/datasets", headers=AUTH, json={
        "name": "From a cluster", "from_query": {"filters": {"cluster": cluster["id"]}, "limit": 100}})
    assert r.status_code == 201, r.text
    d = r.json()
    assert {m["item_id"] for m in d["latest"]["members"]} == members
    r = client.post("/api/datasets", headers=AUTH, json={
        "name": "From a label", "from_query": {"filters": {"label": "Dumpfe Schläge", "label_scheme": "makers"}}})
    assert {m["item_id"] for m in r.json()["latest"]["members"]} == members

    rows = _manifest(client, d["id"], 1)
    assert {r["cluster"] for r in rows} == {f"cluster-{cluster['identity_id']}"}
    assert all("Dumpfe Schläge@de (makers)" in r["labels"] for r in rows)

    # consent withdrawn for one member: a new version without it; the old version lists it as withdrawn
    gone = sorted(members)[0]
    admin = client.app.state.services.accounts  # type: ignore[attr-defined]
    admin.add_user("mod", "moderator")
    key = admin.issue_key("mod")
    r = client.post("/api/consent/withdrawals", headers={"Authorization": f"Bearer {key}"},
                    json={"scope": "file", "target": str(gone), "reason": "rights holder asked"})
    assert r.status_code == 201, r.text
    assert {"dataset_id": d["id"], "version": 2} in r.json()["dataset_versions"]
    latest = client.get(f"/api/datasets/{d['id']}").json()["latest"]
    assert latest["version"] == 2 and latest["origin"]["kind"] == "withdrawal"
    assert gone not in {m["item_id"] for m in latest["members"]}
    old = {r["file_id"]: r for r in _manifest(client, d["id"], 1)}
    assert old[gone]["status"] == "withdrawn" and not old[gone].get("md5")
    assert client.get("/api/search", params={"cluster": cluster["id"], "limit": 50}).json()["total"] == len(members) - 1
    # ... and from the clusters and the map, in the same request cycle
    run = client.get(f"/api/clusterings/{rep.run_id}").json()
    assert gone not in {p["item_id"] for p in run["points"]}
    assert all(gone not in c["exemplars"] for c in run["clusters_detail"])
    detail = client.get(f"/api/clusters/{cluster['id']}").json()
    assert gone not in {m["item_id"] for m in detail["members"]} and gone not in detail["exemplars"]
