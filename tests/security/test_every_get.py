"""Hidden stays hidden on every GET of the API (issue 19): the hidden-state × surface table.

A real indexed catalogue holds two open drum hits and three hidden ones: one withdrawn, one whose
consent lapsed, and one under a secret/sacred protocol label of the community "Kin". Labels, a
dataset, a clustering run and reports were made about all of them while they were visible.

For every GET operation of the OpenAPI document, ``ROUTES`` says how to fill its path (or marks it as
taking none). Asked anonymously and by an editor outside Kin, every answer must
- carry no hidden item's id, title, label words or md5 (JSON, text, zip members and points.bin alike);
- for an operation addressed at a hidden thing (the item, its secret record, a label about it), answer
  exactly as for an id that never existed (status and body, the id itself aside).
A Kin member sees the restricted item (the control that shows the checks can fail), and an operation
added to the API without an entry here fails ``test_the_table_covers_every_get_operation``.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tessera.api.app import create_app
from tessera.catalog.store import Catalog, ItemFilter
from tessera.catalog.visibility import OPERATOR
from tessera.compose import build
from tessera.core.settings import Settings
from tessera.crawlers.sources.folder import add_folder
from tessera.indexer.run import IndexParams, run_index
from tessera.indexer.store import IndexStore
from tessera.taxonomy.points import decode_points
from tessera.taxonomy.store import ClusterIn, TaxonomyStore

SAMPLES = Path("/usr/share/sonic-pi/samples")
MISSING = 987_654_321
# the file each role is copied to: the hidden ones carry a token that must never show up in an answer
FILES = {"open1": "bd_haus", "open2": "bd_tek", "withdrawn": "bd_zome", "lapsed": "bd_fat", "restricted": "bd_boom"}
TOKEN = {"withdrawn": "zqwithdrawnzq", "lapsed": "zqlapsedzq", "restricted": "zqsacredzq"}


@dataclass
class World:
    client: TestClient
    item: dict[str, int]
    md5: dict[str, str]
    record: dict[str, int]
    label: dict[str, int]
    report: dict[str, int]
    run: int
    cluster: int
    dataset: int
    keys: dict[str, str]

    def hidden(self) -> list[str]:
        return list(TOKEN)


def _h(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("every-get")
    open_dir, secret_dir = root / "songs", root / "rites"
    open_dir.mkdir()
    secret_dir.mkdir()
    for role, name in FILES.items():
        target = secret_dir if role == "restricted" else open_dir
        shutil.copy(SAMPLES / f"{name}.flac", target / f"{TOKEN.get(role, role)}.flac")
    settings = Settings(data_dir=root / "data", rate_limit_anonymous=10**6, rate_limit_key=10**6,
                        rate_limit_audio_anonymous=10**6)
    services = build(settings)
    app = create_app(services)
    catalog: Catalog = services.catalog(OPERATOR)
    add_folder(catalog, open_dir, "CC-BY-4.0", "Ana", title="Songs")
    add_folder(catalog, secret_dir, "CC-BY-4.0", "Elder", title="Rites")
    run_index(IndexStore(catalog.db), settings.index_dir, IndexParams(), workers=1)
    rows = catalog.list_items(ItemFilter(), 100, 0)[0]
    by_name = {r.filename.rsplit(".", 1)[0]: r for r in rows}
    item = {role: by_name[TOKEN.get(role, role)].id for role in FILES}
    md5 = {role: by_name[TOKEN.get(role, role)].md5 for role in FILES}
    record = {role: by_name[TOKEN.get(role, role)].record_id for role in FILES}
    ids = list(item.values())
    run = TaxonomyStore(catalog.db, OPERATOR).save_run(
        "all", "v-test", {}, ids, np.zeros(len(ids), np.int64), np.ones(len(ids)),
        np.random.default_rng(0).normal(size=(len(ids), 2)).astype(np.float32),
        [ClusterIn(0, len(ids), 5.0, {"summary": "drum hits"}, ids)], {}, [], None, "test")
    accounts = services.accounts
    keys = {}
    for name, role, communities in (("ana", "admin", []), ("ben", "editor", ["Other"]), ("kim", "editor", ["Kin"])):
        accounts.add_user(name, role)
        accounts.set_communities(name, communities)
        keys[name] = accounts.issue_key(name)
    with TestClient(app) as client:
        admin = _h(keys["ana"])

        def post(path: str, body: dict[str, Any], who: dict[str, str] = admin) -> Any:
            r = client.post(path, json=body, headers=who)
            assert r.status_code in (200, 201), (path, r.text)
            return r.json()

        cluster = client.get(f"/api/clusterings/{run}", headers=admin).json()["clusters_detail"][0]["id"]
        post("/api/schemes", {"slug": "kin", "name": "Kin words", "rule": {"min_net_votes": 1}})
        label, report = {}, {}
        for role in FILES:
            words = f"about {TOKEN.get(role, role)}"
            lab = post("/api/labels", {"scheme": "kin", "text": words, "lang": "en", "item_id": item[role],
                                       "cultural_context": f"sung by {TOKEN.get(role, role)}"})
            post(f"/api/labels/{lab['id']}/accept", {})
            label[role] = lab["id"]
            report[role] = post("/api/reports", {"target_kind": "item", "target_id": item[role],
                                                 "reason": "other", "text": words}, {})["id"]
        dataset = post("/api/datasets", {"name": "Everything", "members": [{"item_id": i} for i in ids]})["id"]
        post("/api/protocol-labels", {"target_kind": "record", "target_id": record["restricted"],
                                      "code": "tk_secret_sacred", "community": "Kin", "text": "for Kin only"})
        post("/api/consent/withdrawals", {"scope": "file", "target": str(item["withdrawn"]), "reason": "asked"})
        soon = datetime.now(UTC) + timedelta(hours=1)
        post("/api/consent/periods", {"scope": "file", "target": str(item["lapsed"]), "reason": "a year",
                                      "expires_at": soon.isoformat()})
        services.consent.sweep(at=soon + timedelta(hours=1))
        yield World(client, item, md5, record, label, report, run, cluster, dataset, keys)


# ---- the table: how to fill each GET operation's path; "hidden" ones are addressed at a hidden thing

Fill = Callable[[World, str], str]  # (world, hidden role or "missing") -> path


def _item(tpl: str) -> Fill:
    return lambda w, role: tpl.format(id=w.item[role] if role != "missing" else MISSING)


def _label(tpl: str) -> Fill:
    return lambda w, role: tpl.format(id=w.label[role] if role != "missing" else MISSING)


def _fixed(path: str) -> Fill:
    return lambda w, role: path


ADDRESSED: dict[str, Fill] = {
    "/api/items/{item_id}": _item("/api/items/{id}"),
    "/api/items/{item_id}/similar": _item("/api/items/{id}/similar"),
    "/api/items/{item_id}/audio": _item("/api/items/{id}/audio"),
    "/api/items/{item_id}/preview": _item("/api/items/{id}/preview"),
    "/api/labels/{label_id}": _label("/api/labels/{id}"),
    "/api/labels/{label_id}/history": _label("/api/labels/{id}/history"),
}
# addressed at the restricted item's own record (the others share theirs with open items)
RECORD: dict[str, str] = {
    "/api/records/{record_id}/profile": "/api/records/{id}/profile",
    "/api/records/{record_id}/similar": "/api/records/{id}/similar",
}
# answers that may show items: each is asked and searched for hidden content
LISTS: dict[str, Callable[[World], list[str]]] = {
    "/api/items": lambda w: ["/api/items?limit=50", "/api/items?q=zq"],
    "/api/features": lambda w: ["/api/features"],
    "/api/spaces": lambda w: ["/api/spaces"],
    "/api/search": lambda w: ["/api/search?limit=50", f"/api/search?item={w.item['open1']}&limit=50",
                              "/api/search?q=zq&limit=50", "/api/search?label=zq"],
    "/api/datasets": lambda w: ["/api/datasets"],
    "/api/datasets/{dataset_id}": lambda w: [f"/api/datasets/{w.dataset}"],
    "/api/datasets/{dataset_id}/versions": lambda w: [f"/api/datasets/{w.dataset}/versions?with_members=true"],
    "/api/datasets/{dataset_id}/licence": lambda w: [f"/api/datasets/{w.dataset}/licence"],
    "/api/datasets/{dataset_id}/export": lambda w: [f"/api/datasets/{w.dataset}/export",
                                                    f"/api/datasets/{w.dataset}/export?with_audio=true"],
    "/api/clusterings": lambda w: ["/api/clusterings"],
    "/api/clusterings/{run_id}": lambda w: [f"/api/clusterings/{w.run}"],
    "/api/clusters/{cluster_id}": lambda w: [f"/api/clusters/{w.cluster}"],
    "/api/clusterings/{run_id}/points.bin": lambda w: [f"/api/clusterings/{w.run}/points.bin"],
    "/api/clusterings/{run_id}/map": lambda w: [f"/api/clusterings/{w.run}/map"],
    "/api/schemes": lambda w: ["/api/schemes"],
    "/api/schemes/{slug}/skos": lambda w: ["/api/schemes/kin/skos", "/api/schemes/kin/skos?format=json-ld"],
    "/api/rejected": lambda w: ["/api/rejected"],
    "/api/consent/events": lambda w: ["/api/consent/events"],
    "/api/opt-outs": lambda w: ["/api/opt-outs"],
    "/api/users": lambda w: ["/api/users"],
    "/api/me": lambda w: ["/api/me"],
    "/api/reports": lambda w: ["/api/reports"],
    "/api/reports/{report_id}": lambda w: [f"/api/reports/{r}" for r in w.report.values()],
    "/api/audit": lambda w: ["/api/audit"],
    "/api/protocol-kinds": lambda w: ["/api/protocol-kinds"],
    "/api/protocol-labels": lambda w: ["/api/protocol-labels",
                                       f"/api/protocol-labels?target_kind=record&target_id={w.record['restricted']}"],
    "/health": lambda w: ["/health"],
    "/problems": lambda w: ["/problems"],
    "/problems/{code}": lambda w: ["/problems/not_found"],
    "/source": lambda w: [],  # a redirect to the source code: nothing of the catalogue
}
VIEWERS = {"anonymous": None, "outsider editor": "ben"}


def _texts(r: Any) -> str:
    """Everything an answer says, as text: zip members unpacked, points.bin decoded to its ids."""
    ctype = r.headers.get("content-type", "")
    if "zip" in ctype:
        with zipfile.ZipFile(io.BytesIO(r.content)) as z:
            return "\n".join(f"{n}\n{z.read(n).decode('utf-8', 'replace')}" for n in z.namelist())
    if r.url.path.endswith("/points.bin") and r.status_code == 200:
        return json.dumps({"item_ids": [int(i) for i in decode_points(r.content)["item_id"]]})
    if ctype.startswith("audio/"):
        return ""
    return r.text


def _item_ids(text: str) -> set[int]:
    """Item ids an answer names: under item keys, in item objects, or in points.bin's id column."""
    try:
        data = json.loads(text)
    except ValueError:
        return set()
    found: set[int] = set()

    def walk(o: Any) -> None:
        if isinstance(o, dict):
            for k in ("item_id", "file_id", "items_ids"):
                if isinstance(o.get(k), int):
                    found.add(o[k])
            if "md5" in o and isinstance(o.get("id"), int):
                found.add(o["id"])
            if isinstance(o.get("item_ids"), list):
                found.update(i for i in o["item_ids"] if isinstance(i, int))
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(data)
    return found


def _leaks(w: World, text: str, roles: list[str]) -> list[str]:
    ids = _item_ids(text)
    out = []
    for role in roles:
        if TOKEN.get(role, role) in text or w.md5[role] in text or w.item[role] in ids:
            out.append(role)
    return out


# answers that list items: the open ones must show there, so the leak check has something to find
SHOWS_OPEN = ["/api/items?limit=50", "/api/search?limit=50", "/api/datasets/{dataset}",
              "/api/datasets/{dataset}/versions?with_members=true", "/api/datasets/{dataset}/export",
              "/api/clusterings/{run}", "/api/clusters/{cluster}", "/api/clusterings/{run}/points.bin",
              "/api/schemes/kin/skos"]


@pytest.mark.parametrize("viewer", list(VIEWERS))
def test_no_answer_shows_a_hidden_item(world: World, viewer: str) -> None:
    key = world.keys.get(VIEWERS[viewer] or "")
    leaks = {}
    for paths in LISTS.values():
        for path in paths(world):
            r = world.client.get(path, headers=_h(key))
            assert r.status_code < 500, (path, r.text)
            found = _leaks(world, _texts(r), world.hidden())
            if found:
                leaks[path] = found
    for fill in ADDRESSED.values():
        for role in world.hidden():
            r = world.client.get(fill(world, role), headers=_h(key))
            if found := _leaks(world, _texts(r), world.hidden()):
                leaks[fill(world, role)] = found
    assert not leaks, leaks


@pytest.mark.parametrize("viewer", list(VIEWERS))
@pytest.mark.parametrize("role", list(TOKEN))
def test_a_hidden_thing_answers_as_a_missing_one(world: World, viewer: str, role: str) -> None:
    key = world.keys.get(VIEWERS[viewer] or "")
    routes: dict[str, Fill] = dict(ADDRESSED)
    if role == "restricted":
        routes |= {r: (lambda w, rl, t=tpl: t.format(id=w.record["restricted"] if rl != "missing" else MISSING))
                   for r, tpl in RECORD.items()}
    differ = {}
    for route, fill in routes.items():
        hidden_path, missing_path = fill(world, role), fill(world, "missing")
        a = world.client.get(hidden_path, headers=_h(key))
        b = world.client.get(missing_path, headers=_h(key))
        ids = (str(world.item[role]), str(world.label[role]), str(world.record[role]), str(MISSING))
        norm = [re.sub("|".join(ids), "ID", x.text) for x in (a, b)]
        if a.status_code != b.status_code or norm[0] != norm[1]:
            differ[route] = (a.status_code, a.text[:200], b.status_code, b.text[:200])
    assert not differ, differ


def test_a_member_of_the_community_sees_its_own_material(world: World) -> None:
    """The controls: the checks above would see the restricted item if it were shown, and they see the
    open items in every answer that lists items."""
    for tpl in SHOWS_OPEN:
        path = tpl.format(dataset=world.dataset, run=world.run, cluster=world.cluster)
        r = world.client.get(path)
        assert r.status_code == 200, (path, r.text)
        assert _leaks(world, _texts(r), ["open1", "open2"]) == ["open1", "open2"], path
    r = world.client.get("/api/items?limit=50", headers=_h(world.keys["kim"]))
    assert _leaks(world, r.text, ["restricted"]) == ["restricted"]
    r = world.client.get(f"/api/items/{world.item['restricted']}", headers=_h(world.keys["kim"]))
    assert r.status_code == 200
    anon = world.client.get(f"/api/labels/{world.label['withdrawn']}")
    assert anon.status_code == 404  # and the withdrawn item's label is gone for everyone


def test_the_table_covers_every_get_operation(world: World) -> None:
    paths = world.client.app.openapi()["paths"]  # type: ignore[attr-defined]
    gets = {p for p, ops in paths.items() if "get" in ops}
    covered = set(ADDRESSED) | set(RECORD) | set(LISTS)
    assert gets - covered == set(), f"GET operations with no entry in the table: {sorted(gets - covered)}"
    assert covered - gets == set(), f"entries for operations that no longer exist: {sorted(covered - gets)}"



@pytest.mark.parametrize("viewer", list(VIEWERS))
def test_aggregates_count_only_what_the_viewer_may_see(world: World, viewer: str) -> None:
    key = world.keys.get(VIEWERS[viewer] or "")
    health = world.client.get("/health", headers=_h(key)).json()
    assert health["items"]["indexed"] == 2  # the two open items; the hidden three are not counted
    assert set(health["index"]["spaces"].values()) == {None}  # index rows include restricted ones
    # the run's and cluster's counts and durations are net of the hidden members (5 clustered, 2 visible)
    run = world.client.get(f"/api/clusterings/{world.run}", headers=_h(key)).json()
    assert run["items"] == 2 and run["clusters_detail"][0]["size"] == 2
    listed = world.client.get("/api/clusterings", headers=_h(key)).json()["items"][0]
    cluster = world.client.get(f"/api/clusters/{world.cluster}", headers=_h(key)).json()
    assert listed["items"] == 2 and cluster["size"] == 2 == len(cluster["members"])
    assert cluster["total_duration"] < 5.0
    staff = world.client.get("/health", headers=_h(world.keys["ana"])).json()
    assert all(isinstance(v, int) and v >= 2 for v in staff["index"]["spaces"].values())
