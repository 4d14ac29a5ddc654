"""One filter grammar: each filter, driven through every surface that takes filters, picks the same items.

A real catalogue (real recordings, real essentia features, a SQLite file): two folders and a Zenodo record
with different licences and creators, a silent and a broken file (neither indexed), a clustering run and a
community label.
Each filter goes through GET and POST /api/search, /api/items, the map's points.bin, a dataset built
``from_query`` (API and ``tessera dataset create``) and ``tessera search --json``; the expected items are
worked out here from the catalogue's own rows, so a filter that means something else anywhere fails.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from statistics import median
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tessera.api.app import create_app
from tessera.catalog.store import FileIn, ItemFilter, RecordIn
from tessera.catalog.visibility import OPERATOR
from tessera.cli import app as cli_app
from tessera.compose import build
from tessera.core.settings import Settings
from tessera.crawlers.sources.folder import add_folder
from tessera.indexer.run import IndexParams, run_index
from tessera.indexer.store import IndexStore
from tessera.search.filters import FILTER_NAMES
from tessera.taxonomy.points import decode_points
from tessera.taxonomy.store import TaxonomyStore
from tests.taxonomy.helpers import save

SAMPLES = Path("/usr/share/sonic-pi/samples")
AUTH = {"Authorization": "Bearer test-editor-token"}
DRUMS = ["bd_haus", "bd_tek", "bd_zome", "sn_dub", "sn_dolf"]
AMBIENT = ["ambi_choir", "ambi_drone", "ambi_glass_hum", "guit_harmonics"]


class World:
    def __init__(self, client: TestClient, data: Path, ids: dict[str, int], upload: Path) -> None:
        self.client, self.data, self.ids, self.upload = client, data, ids, upload
        self.names = {v: k for k, v in ids.items()}
        self.cases: dict[str, tuple[dict[str, Any], set[str]]] = {}
        self.indexed: set[str] = set()
        self.in_run: set[str] = set()
        self.run_id = 0
        self.made = 0

    def named(self, ids: Any) -> set[str]:
        return {self.names[int(i)] for i in ids}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("grammar")
    drums, ambient = root / "drums", root / "ambient"
    drums.mkdir()
    ambient.mkdir()
    for n in DRUMS:
        shutil.copy(SAMPLES / f"{n}.flac", drums / f"{n}.flac")
    sf.write(drums / "silence.wav", np.zeros(44100 * 2, dtype=np.float32), 44100)
    (drums / "broken.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage that is not audio" * 3)
    for n in AMBIENT:
        shutil.copy(SAMPLES / f"{n}.flac", ambient / f"{n}.flac")
    settings = Settings(data_dir=root / "data", editor_token="test-editor-token", rate_limit_anonymous=10**6)
    services = build(settings)
    catalog = services.catalog(OPERATOR)
    add_folder(catalog, drums, "CC0-1.0", "Ada Drummer", title="Drum kit", description="Kicks and snares")
    add_folder(catalog, ambient, "CC-BY-NC-4.0", "Grace Hum", title="Ambient textures",
               description="Drones and choirs")
    guitar = root / "guit_e_fifths.flac"
    shutil.copy(SAMPLES / "guit_e_fifths.flac", guitar)
    rec = catalog.upsert_record(RecordIn("zenodo", "10.5281/zenodo.4242", "Guitar fifths", "CC-BY-SA-4.0",
                                         creator="Ki Narto"))
    catalog.add_file(rec, FileIn("guit_e_fifths.flac", hashlib.md5(guitar.read_bytes()).hexdigest(),
                                 guitar.stat().st_size, path=str(guitar),
                                 url="https://zenodo.org/records/4242/files/guit_e_fifths.flac"))
    run_index(IndexStore(catalog.db), settings.index_dir, IndexParams(), workers=1)
    rows = catalog.list_items(ItemFilter(), 100, 0)[0]
    ids = {Path(r.filename).stem: r.id for r in rows}
    with TestClient(create_app(services)) as client:
        w = World(client, settings.data_dir, ids, SAMPLES / "bd_haus.flac")
        feats = {r.id: catalog.get_features(r.id) for r in rows}
        w.indexed = {w.names[i] for i, f in feats.items() if f is not None}
        # a clustering run over the indexed items: kicks, snares and ambient sounds; the rest unclustered
        group = {"bd": 0, "sn": 1, "am": 2}
        members = sorted(ids[n] for n in w.indexed)
        ts = TaxonomyStore(catalog.db, OPERATOR)
        w.run_id = save(ts, members, [group.get(w.names[i][:2], -1) for i in members])
        w.in_run = w.indexed
        clusters = {c.label: c.id for c in ts.get_run(w.run_id).clusters_detail}
        ts.add_scheme("makers", "Makers", {"min_net_votes": 1}, "t")
        ts.propose_label("makers", "Thump", "en", "t", cluster_id=clusters[0])
        ts.propose_label("makers", "Thump", "en", "t", item_id=ids["guit_harmonics"])
        w.cases = _cases(w, rows, feats, clusters[0], rec)
        yield w
    services.close()


def _cases(w: World, rows: list[Any], feats: dict[int, Any], kick_cluster: int,
           zenodo_record: int) -> dict[str, tuple[dict[str, Any], set[str]]]:
    """One case per filter: its value, and the items it must pick (worked out from the rows themselves)."""
    every = set(w.ids)

    def where(pred: Any) -> set[str]:
        return {w.names[r.id] for r in rows if pred(r, (feats[r.id].features if feats[r.id] else None))}

    def feat(name: str) -> list[Any]:
        return [f.features[name] for f in feats.values() if f is not None]

    dur = median(r.duration for r in rows if r.duration is not None)
    bpm, conf = median(feat("bpm")), median(feat("bpm_confidence"))
    tun = median(feat("tuning_deviation_cents"))
    keys = feat("key")
    key = max(set(keys), key=keys.count)
    flags = [g for f in feats.values() if f is not None for g in (f.quality or {}).get("flags", [])]
    flag = max(set(flags), key=flags.count)
    flagged = {w.names[i] for i, f in feats.items() if f is not None and flag in (f.quality or {}).get("flags", [])}
    cases: dict[str, tuple[dict[str, Any], set[str]]] = {
        "licence": ({"licence": "CC0-1.0"}, set(DRUMS) | {"silence", "broken"}),
        "licence_class": ({"licence_class": "restricted"}, set(AMBIENT)),
        "source": ({"source": "zenodo"}, {"guit_e_fifths"}),
        "record_id": ({"record_id": zenodo_record}, {"guit_e_fifths"}),
        "creator": ({"creator": "grace"}, set(AMBIENT)),
        "status": ({"status": "failed"}, {"broken", "silence"}),  # silence: below -80 dBFS, not indexed
        "duration_min": ({"duration_min": dur}, where(lambda r, f: r.duration is not None and r.duration >= dur)),
        "duration_max": ({"duration_max": dur}, where(lambda r, f: r.duration is not None and r.duration <= dur)),
        "bpm_min": ({"bpm_min": bpm}, where(lambda r, f: f is not None and f["bpm"] >= bpm)),
        "bpm_max": ({"bpm_max": bpm}, where(lambda r, f: f is not None and f["bpm"] <= bpm)),
        "bpm_confidence_min": ({"bpm_confidence_min": conf},
                               where(lambda r, f: f is not None and f["bpm_confidence"] >= conf)),
        "key": ({"key": key}, where(lambda r, f: f is not None and f["key"] == key)),
        "scale": ({"scale": "minor"}, where(lambda r, f: f is not None and f["scale"] == "minor")),
        "tuning_min": ({"tuning_min": tun}, where(lambda r, f: f is not None and f["tuning_deviation_cents"] >= tun)),
        "tuning_max": ({"tuning_max": tun}, where(lambda r, f: f is not None and f["tuning_deviation_cents"] <= tun)),
        "exclude_flag": ({"exclude_flag": [flag]}, every - flagged),
        "q": ({"q": "drone choir"}, set(AMBIENT)),
        "cluster": ({"cluster": kick_cluster}, {"bd_haus", "bd_tek", "bd_zome"}),
        "label": ({"label": "THUMP"}, {"bd_haus", "bd_tek", "bd_zome", "guit_harmonics"}),
        "label_scheme": ({"label": "thump", "label_scheme": "makers"}, {"bd_haus", "bd_tek", "bd_zome",
                                                                        "guit_harmonics"}),
    }
    assert flagged and w.indexed - flagged
    return cases


def _query(flt: dict[str, Any]) -> str:
    return urlencode([(k, str(x)) for k, v in flt.items() for x in (v if isinstance(v, list) else [v])])


def _pairs(flt: dict[str, Any]) -> list[str]:
    return [a for k, v in flt.items() for x in (v if isinstance(v, list) else [v]) for a in ("-f", f"{k}={x}")]


def _cli(w: World, args: list[str]) -> Any:
    return CliRunner().invoke(cli_app, args, env={"TESSERA_DATA_DIR": str(w.data), "TESSERA_DATABASE_URL": None})


def _surfaces(w: World, flt: dict[str, Any]) -> dict[str, set[str]]:
    """The items each surface picks for these filters."""
    c, qs = w.client, _query(flt)
    got: dict[str, set[str]] = {}
    r = c.get(f"/api/search?{qs}&limit=50")
    assert r.status_code == 200, r.text
    got["GET /api/search"] = w.named(h["item"]["id"] for h in r.json()["items"])
    r = c.get(f"/api/items?{qs}&limit=50")
    assert r.status_code == 200, r.text
    got["GET /api/items"] = w.named(i["id"] for i in r.json()["items"])
    with w.upload.open("rb") as fh:
        r = c.post(f"/api/search?{qs}&limit=50", files={"file": ("q.flac", fh, "audio/flac")})
    assert r.status_code == 200, r.text
    got["POST /api/search"] = w.named(h["item"]["id"] for h in r.json()["items"])
    r = c.get(f"/api/clusterings/{w.run_id}/points.bin?{qs}")
    assert r.status_code == 200, r.text
    got["points.bin"] = w.named(decode_points(r.content)["item_id"])
    w.made += 1
    r = c.post("/api/datasets", headers=AUTH, json={"name": f"api {w.made}", "from_query": {
        "filters": flt, "limit": 1000}})
    assert r.status_code == 201, r.text
    got["from_query (API)"] = w.named(m["item_id"] for m in r.json()["latest"]["members"])
    res = _cli(w, ["dataset", "create", f"cli {w.made}", *_pairs(flt), "--json"])
    assert res.exit_code == 0, res.output
    made = c.get(f"/api/datasets/{json.loads(res.output)['id']}").json()
    got["tessera dataset create"] = w.named(m["item_id"] for m in made["latest"]["members"])
    assert made["latest"]["origin"]["filters"] == flt  # recorded by their public names
    res = _cli(w, ["search", *_pairs(flt), "--limit", "50", "--json"])
    assert res.exit_code == 0, res.output
    got["tessera search"] = w.named(h["item"]["id"] for h in json.loads(res.output)["items"])
    return got


@pytest.mark.parametrize("name", [n for n in FILTER_NAMES])
def test_each_filter_picks_the_same_items_everywhere(world: World, name: str) -> None:
    flt, expected = world.cases[name]
    assert expected and expected != set(world.ids), f"{name}: the case must tell items apart"
    got = _surfaces(world, flt)
    # search by sound ranks indexed items only; the map holds the run's members
    want = {s: expected & world.indexed if s == "POST /api/search" else expected & world.in_run
            if s == "points.bin" else expected for s in got}
    assert got == want


def test_similarity_from_the_cli_is_the_api_s(world: World) -> None:
    item = world.ids["bd_tek"]
    api = world.client.get(f"/api/search?item={item}&licence_class=open&limit=10").json()
    res = _cli(world, ["search", "--like", str(item), "-f", "licence_class=open", "--limit", "10", "--json"])
    assert res.exit_code == 0, res.output
    cli = json.loads(res.output)
    assert [h["item"]["id"] for h in cli["items"]] == [h["item"]["id"] for h in api["items"]]
    assert len(cli["items"]) > 2 and set(cli["items"][0]) == set(api["items"][0])  # the same fields
    assert cli["total"] == api["total"] and cli["query"] == api["query"]


@pytest.mark.parametrize("bad", ["cluster_id", "text", "exclude_flags", "bogus"])
def test_an_unknown_name_is_refused_everywhere_naming_it(world: World, bad: str) -> None:
    c = world.client
    for r in (c.get(f"/api/search?{bad}=1"), c.get(f"/api/items?{bad}=1"),
              c.get(f"/api/clusterings/{world.run_id}/points.bin?{bad}=1"),
              c.post(f"/api/search?{bad}=1", files={"file": ("q.flac", world.upload.read_bytes(), "audio/flac")}),
              c.post("/api/datasets", headers=AUTH, json={"name": "never", "from_query": {"filters": {bad: 1}}})):
        assert r.status_code == 422, (r.request.url, r.text)
        assert bad in r.text and "licence_class" in r.text and "exclude_flag" in r.text  # names it, lists the rest
    for args in (["search", "-f", f"{bad}=1"], ["dataset", "create", "never", "-f", f"{bad}=1"]):
        res = _cli(world, args)
        assert res.exit_code == 2 and bad in res.output and "licence_class" in res.output, res.output


@pytest.mark.parametrize("flt", [{"duration_min": 5, "duration_max": 1}, {"bpm_min": 130, "bpm_max": 90},
                                 {"tuning_min": 10, "tuning_max": -10}, {"bpm_max": 5000}, {"key": "H"},
                                 {"exclude_flag": ["loud"]}])
def test_bad_values_are_refused_the_same_everywhere(world: World, flt: dict[str, Any]) -> None:
    c, qs, name = world.client, _query(flt), next(iter(flt))
    for r in (c.get(f"/api/search?{qs}"), c.get(f"/api/items?{qs}"),
              c.get(f"/api/clusterings/{world.run_id}/points.bin?{qs}"),
              c.post("/api/datasets", headers=AUTH, json={"name": "never", "from_query": {"filters": flt}})):
        assert r.status_code == 422, (r.request.url, r.text)
        assert name in r.text
    res = _cli(world, ["search", *_pairs(flt)])
    assert res.exit_code == 2 and name in res.output, res.output


def test_the_grammar_is_documented_with_one_example_per_filter() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "API.md").read_text()
    examples = [line for line in doc.splitlines() if line.startswith("curl ")]
    for name in FILTER_NAMES:
        assert re.search(rf"^\| `{name}`|, `{name}` \|", doc, re.M), name  # in the table
        assert any(re.search(rf"[?&]{name}=", line) for line in examples), name
