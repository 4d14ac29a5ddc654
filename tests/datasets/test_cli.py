"""`tessera dataset …` and `tessera export` through typer's runner, on a real SQLite catalogue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tessera.catalog.store import Catalog, FileIn, RecordIn
from tessera.catalog.visibility import OPERATOR
from tessera.cli.datasets import register
from tessera.core.db import Database
from tessera.taxonomy.store import TaxonomyStore
from tests.taxonomy.helpers import save


def test_dataset_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    db = Database(f"sqlite:///{(tmp_path / 'data' / 'catalog.sqlite').resolve()}")
    db.migrate()
    cat = Catalog(db, OPERATOR)
    rec = cat.upsert_record(RecordIn("folder", "/x", "X", "CC-BY-ND-4.0", creator="A"))
    ids = [cat.add_file(rec, FileIn(f"{i}.wav", f"{i:032d}", 10, url=f"http://h/{i}.wav",
                                     path=str(tmp_path / f"{i}.wav")))[0] for i in range(3)]
    app = typer.Typer()
    app.command("noop")(lambda: None)
    register(app)
    r = CliRunner()
    res = r.invoke(app, ["dataset", "create", "My set", "-i", str(ids[0]), "-i", str(ids[1]), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["members"] == 2
    res = r.invoke(app, ["dataset", "add", "my-set", "-i", str(ids[2]), "--json"])
    assert json.loads(res.output) == {"version": 2, "members": 3}
    res = r.invoke(app, ["dataset", "remove", "my-set", "-i", str(ids[0]), "--json"])
    assert json.loads(res.output) == {"version": 3, "members": 2}
    res = r.invoke(app, ["export", "my-set", "--version", "2", "--out", str(tmp_path / "o.zip"), "--json"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert body["members"] == 3 and any("NoDerivatives" in w for w in body["warnings"])
    res = r.invoke(app, ["dataset", "add", "my-set", "-i", "999"])
    assert res.exit_code == 2
    res = r.invoke(app, ["dataset", "edit", "my-set", "--notes", "kept the ND ones apart", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == {"version": 4, "members": 2, "changed": ["notes"]}
    assert r.invoke(app, ["dataset", "edit", "my-set"]).exit_code == 2  # nothing to change
    # the export states which clustering run its cluster column comes from (none yet here)
    res = r.invoke(app, ["export", "my-set", "--out", str(tmp_path / "v4"), "--json"])
    assert res.exit_code == 0, res.output
    sheet = (tmp_path / "v4" / "DATASHEET.md").read_text()
    assert "Curator notes: kept the ND ones apart" in sheet and "No clustering run existed" in sheet
    # no public URL: local files have no download URL, said plainly; --public-url links them to this server
    assert json.loads(res.output)["unlinked"] == 2 and "have no download URL" in sheet
    res = r.invoke(app, ["export", "my-set", "--out", str(tmp_path / "pub"), "--public-url",
                         "https://tessera.example.org/", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["unlinked"] == 0
    rows = [json.loads(x) for x in (tmp_path / "pub" / "manifest.jsonl").read_text().splitlines()]
    assert {x["url"] for x in rows} == {f"https://tessera.example.org/api/items/{i}/audio" for i in ids[1:]}
    assert {x["source_identifier"] for x in rows} == {"x"}  # the folder's name, not its server path
    res = r.invoke(app, ["export", "my-set", "--out", str(tmp_path / "bad"), "--public-url", "ftp://h/"])
    assert res.exit_code == 2 and "http(s) base URL" in res.output
    # from a cluster and from a community label
    ts = TaxonomyStore(db, OPERATOR)
    run_id = save(ts, ids, [0, 0, 1])
    first = next(c for c in ts.get_run(run_id)["clusters_detail"] if c["label"] == 0)
    res = r.invoke(app, ["dataset", "create", "From a cluster", "--cluster", str(first["id"]), "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["members"] == 2, res.output
    res = r.invoke(app, ["export", "from-a-cluster", "--run", str(run_id), "--out", str(tmp_path / "c"), "--json"])
    assert res.exit_code == 0, res.output
    assert f"clustering run {run_id} (space `all`" in (tmp_path / "c" / "DATASHEET.md").read_text()
    assert r.invoke(app, ["export", "from-a-cluster", "--run", "999", "--out", str(tmp_path / "d")]).exit_code == 2
    ts.add_scheme("kin", "Kin", {"min_net_votes": 1}, "t")
    ts.propose_label("kin", "Hum", "en", "t", item_id=ids[2])
    res = r.invoke(app, ["dataset", "create", "From a label", "--label", "hum", "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["members"] == 1, res.output
    db.dispose()
