"""The whole map in one request: points.bin decoded back, visibility as in the JSON run, robust normalisation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tessera.api.app import create_app
from tessera.catalog.protocols import ProtocolStore
from tessera.catalog.visibility import OPERATOR
from tessera.compose import build
from tessera.core.settings import Settings
from tessera.taxonomy.points import LAYOUT, MEDIA_TYPE, UNCLUSTERED, decode_points, normalise
from tessera.taxonomy.store import ClusterIn, TaxonomyStore
from tests.taxonomy.helpers import make_files

N = 40
OUTLIER = 1e9


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    settings.anonymous_max_points = 5  # JSON pages of 5: the binary still answers every point at once
    with TestClient(create_app(build(settings))) as c:
        yield c


@pytest.fixture
def world(client: TestClient) -> dict[str, Any]:
    """A run of N items in three groups on a 2-D layout, one of them thrown far away (an extreme outlier)."""
    app: Any = client.app
    store = TaxonomyStore(app.state.services.db, OPERATOR)
    files = make_files(app.state.services.catalog(OPERATOR), N)
    rng = np.random.default_rng(3)
    labels = np.array([i % 4 - 1 for i in range(N)], dtype=np.int64)  # -1 (unclustered), 0, 1, 2
    centres = np.array([[0.0, 0.0], [10.0, 2.0], [4.0, 8.0], [6.0, 4.0]])
    coords = centres[labels + 1] + rng.normal(0, 0.7, (N, 2))
    coords[7] = [OUTLIER, -OUTLIER]  # item files[7]: far outside every other point
    clusters = [ClusterIn(c, int(np.sum(labels == c)), 1.0, {"summary": f"group {c}", "features": []},
                          [files[i] for i in range(N) if labels[i] == c][:2]) for c in (0, 1, 2)]
    run_id = store.save_run("all", "v-test", {}, files, labels, np.where(labels >= 0, 0.9, 0.0), coords,
                            clusters, {}, [], None, "tester")
    return {"store": store, "files": files, "coords": coords, "labels": labels, "run_id": run_id}


def _json_points(client: TestClient, run_id: int, **headers: str) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    offset = 0
    while True:
        body = client.get(f"/api/clusterings/{run_id}?points_offset={offset}", headers=headers).json()
        out.update({p["item_id"]: p for p in body["points"]})
        offset += len(body["points"])
        if not body["points_next"]:
            return out


def test_points_bin_decodes_to_every_visible_point_in_one_request(client: TestClient, world: dict[str, Any]) -> None:
    run_id = world["run_id"]
    r = client.get(f"/api/clusterings/{run_id}/points.bin")  # anonymous: JSON pages hold 5 points here
    assert r.status_code == 200 and r.headers["content-type"] == MEDIA_TYPE
    assert r.headers["x-tessera-points"] == str(N) and r.headers["etag"].startswith('"')
    pts = decode_points(r.content)
    assert pts["n"] == N and len(r.content) == 48 + 4 * pts["k"] + 14 * N + (2 if N % 2 else 0)
    assert sorted(pts["item_id"].tolist()) == sorted(world["files"])
    # the same clusters as the JSON run, through the cluster list of the header
    by_json = _json_points(client, run_id)
    assert set(by_json) == set(pts["item_id"].tolist())
    for item, c in zip(pts["item_id"].tolist(), pts["cluster"].tolist(), strict=True):
        expect = by_json[item]["cluster_id"]
        assert (None if c == UNCLUSTERED else int(pts["cluster_ids"][c])) == expect, item
    # unclustered first, ids ascending within each part
    k = pts["unclustered"]
    assert k == int(np.sum(world["labels"] < 0)) and (pts["cluster"][:k] == UNCLUSTERED).all()
    assert (np.diff(pts["item_id"][:k].astype(int)) > 0).all() and (np.diff(pts["item_id"][k:].astype(int)) > 0).all()
    # coordinates: in [0, 1], and back to the run's coordinates through x0, y0 and span
    assert pts["x"].min() >= 0 and pts["x"].max() <= 1 and pts["y"].min() >= 0 and pts["y"].max() <= 1
    pos = {f: i for i, f in enumerate(world["files"])}
    for j, item in enumerate(pts["item_id"].tolist()):
        if item == world["files"][7]:
            continue
        x, y = world["coords"][pos[item]]
        assert pts["x0"] + pts["x"][j] * pts["span"] == pytest.approx(x, abs=1e-4)
        assert pts["y0"] + pts["y"][j] * pts["span"] == pytest.approx(y, abs=1e-4)

    # the JSON header: the run, its clusters as GET /api/clusterings/{id} shows them, and the layout
    meta = client.get(f"/api/clusterings/{run_id}/map").json()
    full = client.get(f"/api/clusterings/{run_id}").json()
    assert meta["clusters_detail"] == full["clusters_detail"]
    assert [c["id"] for c in meta["clusters_detail"]] == pts["cluster_ids"].tolist()
    assert meta["points_url"] == f"/api/clusterings/{run_id}/points.bin" and meta["points_layout"] == LAYOUT
    assert meta["unclustered_sample"] == full["unclustered_items"][:50]
    for url in ("/api/clusterings/999/points.bin", "/api/clusterings/999/map"):
        r = client.get(url)
        assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_an_extreme_outlier_is_clamped_and_squashes_nothing(client: TestClient, world: dict[str, Any]) -> None:
    pts = decode_points(client.get(f"/api/clusterings/{world['run_id']}/points.bin").content)
    far = int(np.flatnonzero(pts["item_id"] == world["files"][7])[0])
    assert pts["clamped"] == 1
    assert (pts["x"][far], pts["y"][far]) == (1.0, 0.0)  # on the edge, still drawn
    rest = np.ones(pts["n"], bool)
    rest[far] = False
    # every other point keeps the map's spread (a min-max scale would put them all in one pixel)
    assert np.ptp(pts["x"][rest]) > 0.8 and np.ptp(pts["y"][rest]) > 0.5
    assert ((pts["x"][rest] > 0) & (pts["x"][rest] < 1)).sum() >= pts["n"] - 3


def test_withdrawn_and_protocol_restricted_items_are_not_in_the_points(client: TestClient, settings: Settings,
                                                                        world: dict[str, Any]) -> None:
    run_id, files = world["run_id"], world["files"]
    app: Any = client.app
    url = f"/api/clusterings/{run_id}/points.bin"
    first = client.get(url)
    etag = first.headers["etag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.content and again.headers["etag"] == etag

    gone, sacred = files[3], files[4]
    app.state.services.consent.withdraw("file", str(gone), "tester", "asked")
    ProtocolStore(app.state.services.db, OPERATOR).add_protocol_label("item", sacred, "tk_secret_sacred", "Keepers",
                                                                    None, "mod")
    r = client.get(url, headers={"If-None-Match": etag})
    assert r.status_code == 200 and r.headers["etag"] != etag  # changed: the browser's copy is not reused
    ids = set(decode_points(r.content)["item_id"].tolist())
    assert gone not in ids and sacred not in ids and len(ids) == N - 2
    assert ids == set(_json_points(client, run_id))  # exactly what the JSON run shows the same caller

    # moderators see protocol-restricted items (never withdrawn ones), in both answers alike
    mod = {"Authorization": f"Bearer {_moderator_key(app)}"}
    seen = set(decode_points(client.get(url, headers=mod).content)["item_id"].tolist())
    assert sacred in seen and gone not in seen and seen == set(_json_points(client, run_id, **mod))


def _moderator_key(app: Any) -> str:
    accounts = app.state.services.accounts
    accounts.add_user("mo", "moderator")
    key: str = accounts.issue_key("mo")
    return key


def test_normalise_keeps_the_shape_and_handles_degenerate_input() -> None:
    x = np.array([0.0, 2.0, 4.0])
    y = np.array([0.0, 1.0, 1.0])
    n = normalise(x, y)
    assert n.span == pytest.approx(4.0) and n.clamped == 0
    assert n.x.tolist() == pytest.approx([0, 0.5, 1]) and n.y.tolist() == pytest.approx([0.375, 0.625, 0.625])
    one = normalise(np.array([5.0]), np.array([5.0]))  # a single point: in the middle, not NaN
    assert one.span == 1.0 and 0 <= one.x[0] <= 1
    bad = normalise(np.array([0.0, 1.0, np.nan, np.inf]), np.array([0.0, 1.0, 0.5, 0.5]))
    assert np.isfinite(bad.x).all() and bad.clamped == 2
    empty = normalise(np.array([]), np.array([]))
    assert len(empty.x) == 0
