"""Through the API, on real audio indexed with essentia: query by a segment id, and feature filters
(BPM, key, licence class, quality flags) combined with similarity. Each filtered answer must be the
unfiltered similarity order restricted to the items whose stored features pass the filter."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from tessera.api.app import create_app
from tessera.catalog.store import Catalog, ItemFilter
from tessera.catalog.visibility import OPERATOR
from tessera.compose import build
from tessera.core.settings import Settings
from tessera.crawlers.sources.folder import add_folder
from tessera.indexer.run import IndexParams, run_index
from tessera.indexer.store import IndexStore

OPEN = ["long_mix.wav", "bd_haus.flac", "sn_dub.flac", "ambi_drone.flac", "mostly_silent.wav"]
NC = ["bd_tek.flac", "ambi_choir.flac", "guit_harmonics.flac", "sn_zome.flac"]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Iterator[tuple[TestClient, dict[str, int]]]:
    root = tmp_path_factory.mktemp("segments")
    for folder, names in (("open", OPEN), ("nc", NC)):
        (root / folder).mkdir()
        for n in names:
            if n == "mostly_silent.wav":  # a real snare, then 3 s of silence: flagged, still indexed
                x, sr = sf.read(corpus_dir / "sn_dub.flac", always_2d=True)
                sf.write(root / folder / n, np.concatenate([x, np.zeros((3 * sr, x.shape[1]))]), sr)
            else:
                shutil.copy(corpus_dir / n, root / folder / n)
    settings = Settings(data_dir=root / "data", editor_token="t", rate_limit_anonymous=10**6)
    app = create_app(build(settings))
    catalog: Catalog = app.state.services.catalog(OPERATOR)
    add_folder(catalog, root / "open", "CC-BY-4.0", "Sonic Pi contributors")
    add_folder(catalog, root / "nc", "CC-BY-NC-4.0", "Sonic Pi contributors")
    run_index(IndexStore(catalog.db), settings.index_dir, IndexParams(), workers=1)
    ids = {r.filename.rsplit(".", 1)[0]: r.id for r in catalog.list_items(ItemFilter(status="indexed"), 100, 0)[0]}
    assert len(ids) == len(OPEN) + len(NC), IndexStore(catalog.db).failed_files()
    with TestClient(app) as client:
        yield client, ids


def _search(client: TestClient, **params: Any) -> dict[str, Any]:
    r = client.get("/api/search", params={"limit": 50, **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_query_by_segment_id(api: tuple[TestClient, dict[str, int]]) -> None:
    client, ids = api
    catalog: Catalog = client.app.state.services.catalog(OPERATOR)  # type: ignore[attr-defined]
    segs = catalog.get_segments(ids["long_mix"])
    assert len(segs) >= 2, "a 76 s recording is cut into segments"
    # the mix ends with 38 s of ambi_drone: its last segment sounds like the drone
    last = max(segs, key=lambda s: s.start)
    body = _search(client, segment=last.id)
    hits = [h["item"]["id"] for h in body["items"]]
    assert body["query"]["segments"] == [last.id]
    assert ids["long_mix"] not in hits  # the example's own recording is not an answer
    assert hits[0] == ids["ambi_drone"], hits
    dists = [h["distance"] for h in body["items"]]
    assert dists == sorted(dists) and body["total"] == len(ids) - 1
    # and the mix's drum segment is found, with its times, by a kick query
    body = _search(client, item=ids["bd_haus"])
    mix = next(h for h in body["items"] if h["item"]["id"] == ids["long_mix"])
    if mix["segment_id"] is not None:
        seg = next(s for s in segs if s.id == mix["segment_id"])
        assert (mix["start"], mix["end"]) == (seg.start, seg.end)
    r = client.get("/api/search", params={"segment": 987654})
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_feature_filters_combine_with_similarity(api: tuple[TestClient, dict[str, int]]) -> None:
    client, ids = api
    catalog: Catalog = client.app.state.services.catalog(OPERATOR)  # type: ignore[attr-defined]
    feats = {}
    for fid in ids.values():
        row = catalog.get_features(fid)
        assert row is not None
        feats[fid] = (row.features, row.quality.get("flags", []))
    lic = {fid: catalog.get_item(fid).licence_spdx for fid in ids.values()}
    example = ids["bd_haus"]
    order = [h["item"]["id"] for h in _search(client, item=example)["items"]]
    assert sorted(order) == sorted(set(ids.values()) - {example})

    quiet = feats[ids["mostly_silent"]][1]
    assert {"silent", "mostly_silent"} & set(quiet), quiet
    bpms = sorted(float(feats[f][0]["bpm"]) for f in order)
    lo, hi = bpms[1], bpms[-2]
    keyed = [f for f in order if feats[f][0].get("key") == feats[order[0]][0].get("key")]
    key, scale = feats[order[0]][0]["key"], feats[order[0]][0]["scale"]
    cases: list[tuple[dict[str, Any], Callable[[int], bool]]] = [
        ({"licence_class": "commercial"}, lambda f: "-NC" not in lic[f]),
        ({"bpm_min": lo, "bpm_max": hi}, lambda f: lo <= float(feats[f][0]["bpm"]) <= hi),
        ({"bpm_min": lo, "bpm_confidence_min": 0.5},
         lambda f: float(feats[f][0]["bpm"]) >= lo and float(feats[f][0]["bpm_confidence"]) >= 0.5),
        ({"key": key, "scale": scale}, lambda f: feats[f][0]["key"] == key and feats[f][0]["scale"] == scale),
        ({"exclude_flag": ["silent", "mostly_silent"]},
         lambda f: not {"silent", "mostly_silent"} & set(feats[f][1])),
        ({"licence_class": "open", "exclude_flag": quiet, "bpm_max": hi},
         lambda f: "-NC" not in lic[f] and not set(quiet) & set(feats[f][1]) and float(feats[f][0]["bpm"]) <= hi),
    ]
    assert keyed
    for params, keep in cases:
        expected = [f for f in order if keep(f)]
        assert 0 < len(expected) < len(order) or params.get("key"), (params, expected)
        body = _search(client, item=example, **params)
        got = [h["item"]["id"] for h in body["items"]]
        assert got == expected, params
        assert body["total"] == len(expected)
        # page 2 of size 2 continues the same stable order
        page = _search(client, item=example, limit=2, offset=2, **params)
        assert [h["item"]["id"] for h in page["items"]] == expected[2:4]
