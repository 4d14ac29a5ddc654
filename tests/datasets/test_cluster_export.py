"""Issue 6 done-when: a dataset made from a real cluster exports; its Croissant validates with
mlcroissant; the fetch script downloads and verifies every file from the replay server while it
answers 429 (Retry-After), 503 and a truncated body; then the AudioFolder loads with `datasets`."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from fastapi.testclient import TestClient

from tessera.catalog.store import Catalog
from tessera.catalog.visibility import OPERATOR
from tessera.indexer.store import IndexStore
from tessera.taxonomy.cluster import ClusterParams
from tessera.taxonomy.service import run_clustering
from tessera.taxonomy.store import TaxonomyStore
from tests.crawlers.conftest import Replay
from tests.search.conftest import indexed  # noqa: F401  (package fixture shared with search tests)

AUTH = {"Authorization": "Bearer test-editor-token"}
Indexed = tuple[TestClient, dict[str, int], Path]


def test_cluster_dataset_exports_validates_fetches_and_loads(indexed: Indexed, tmp_path: Path) -> None:  # noqa: F811
    client, ids, audio = indexed
    catalog: Catalog = client.app.state.services.catalog(OPERATOR)  # type: ignore[attr-defined]
    rep = run_clustering(IndexStore(catalog.db), TaxonomyStore(catalog.db, OPERATOR),
                         ClusterParams(seed=5, min_cluster_size=3),
                         created_by="test")
    run = client.get(f"/api/clusterings/{rep.run_id}").json()
    cluster = max(run["clusters_detail"], key=lambda c: c["size"])
    members = sorted(p["item_id"] for p in run["points"] if p["cluster_id"] == cluster["id"])
    assert len(members) >= 3
    names = {v: k for k, v in ids.items()}

    replay = Replay()
    settings = client.app.state.services.settings  # type: ignore[attr-defined]
    try:
        # folder files are linked to this server's audio under its public URL; the replay server mirrors
        # those paths (so it can answer 429, 503 and a truncated body)
        settings.public_url = "https://tessera.invalid"
        for fid in members:
            replay.blobs[f"/api/items/{fid}/audio"] = (audio / f"{names[fid]}.flac").read_bytes()
        r = client.post("/api/datasets", headers=AUTH, json={
            "name": "Cluster study", "description": "One sound-made group, for a listening study",
            "from_query": {"filters": {"cluster": cluster["id"]}, "limit": 100}})
        assert r.status_code == 201, r.text
        d = r.json()
        assert sorted(m["item_id"] for m in d["latest"]["members"]) == members

        r = client.get(f"/api/datasets/{d['id']}/export")
        assert r.status_code == 200, r.text
        zipfile.ZipFile(io.BytesIO(r.content)).extractall(tmp_path)
        out = tmp_path / d["slug"]

        # the manifest's cluster column comes from the run the cluster belongs to, and says so
        rows = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
        assert sorted(r["file_id"] for r in rows) == members
        assert {(r["cluster"], r["cluster_run"]) for r in rows} == {(f"cluster-{cluster['identity_id']}",
                                                                     rep.run_id)}
        sheet = (out / "DATASHEET.md").read_text()
        assert f"clustering run {rep.run_id} (space `all`, extractor `{run['extractor_version']}`" in sheet
        assert "min_cluster_size=3" in sheet and "seed=5" in sheet and f"cluster {cluster['id']}" in sheet

        import mlcroissant as mlc

        ds = mlc.Dataset(jsonld=out / "croissant.json")
        assert ds.metadata.name == d["slug"]
        assert f"clustering run {rep.run_id}" in json.loads((out / "croissant.json").read_text())[
            "rai:dataPreprocessingProtocol"]
        assert len(list(ds.records("members"))) == len(members)

        assert {r["url"] for r in rows} == {f"https://tessera.invalid/api/items/{f}/audio" for f in members}
        first, second, third = (f"/api/items/{f}/audio" for f in members[:3])
        replay.fault(first, "429")
        replay.fault(second, "503")
        replay.fault(third, "truncate")
        run_fetch = subprocess.run(
            [sys.executable, str(out / "fetch.py"), "--base-url", replay.base, "--retries", "3", "--backoff", "0.05"],
            capture_output=True, text=True, timeout=120)
        assert run_fetch.returncode == 0, run_fetch.stderr
        assert f"{len(members)} verified, 0 failed" in run_fetch.stdout
        assert "HTTP 429 (Retry-After 1)" in run_fetch.stderr and "HTTP 503" in run_fetch.stderr
        assert "IncompleteRead" in run_fetch.stderr
        got = {p: [st for _t, q, _ua, st in replay.requests() if q == p] for p in (first, second, third)}
        assert got == {first: [429, 200], second: [503, 200], third: [200, 200]}
        assert all(ua.startswith("tessera-fetch/") for _t, _p, ua, _s in replay.requests())
        for r in rows:
            import hashlib

            assert hashlib.md5((out / r["file_name"]).read_bytes()).hexdigest() == r["md5"]
        assert not list((out / "audio").glob("*.part"))
    finally:
        settings.public_url = None
        replay.close()

    import datasets

    hf = datasets.load_dataset("audiofolder", data_dir=str(out), split="train")
    assert len(hf) == len(members)
    assert sorted(hf["file_id"]) == members
    # decoding needs librosa, which is not a dependency: read the loaded paths with soundfile instead
    import soundfile as sf

    for row in hf.cast_column("audio", datasets.Audio(decode=False)):
        assert sf.info(row["audio"]["path"]).frames > 0
