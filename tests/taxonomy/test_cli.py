"""The taxonomy commands, in process (the numba compile is shared with the session's real runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from rdflib import Graph
from typer.testing import CliRunner

from tessera.catalog.store import Catalog
from tessera.catalog.visibility import OPERATOR
from tessera.core.db import Database
from tessera.taxonomy.store import TaxonomyStore
from tests.taxonomy.conftest import RealRuns
from tests.taxonomy.helpers import make_files, save


@pytest.fixture
def cli() -> typer.Typer:
    from tessera.cli import app

    return app


def test_cluster_command(cli: typer.Typer, real_runs: RealRuns, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_DATA_DIR", str(real_runs.settings.data_dir))
    monkeypatch.delenv("TESSERA_DATABASE_URL", raising=False)
    r = CliRunner().invoke(cli, ["cluster", "--seed", "7", "--min-cluster-size", "4", "--json", "--user", "cli"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout[r.stdout.index("{"):])
    assert rep["items"] == real_runs.second.items and rep["previous_run_id"] == real_runs.second.run_id
    assert rep["clusters"] + rep["unclustered"] > 0 and all(s["summary"] for s in rep["summaries"])
    bad = CliRunner().invoke(cli, ["cluster", "--space", "nope"])
    assert bad.exit_code == 2


def test_scheme_label_skos_commands(cli: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TESSERA_DATABASE_URL", raising=False)
    run = CliRunner()
    r = run.invoke(cli, ["scheme", "add", "kin", "--name", "Kin", "--min-net-votes", "1", "--user", "ed"])
    assert r.exit_code == 0, r.output
    db = Database(f"sqlite:///{(tmp_path / 'data' / 'catalog.sqlite').resolve()}")
    store = TaxonomyStore(db, OPERATOR)
    run_id = save(store, make_files(Catalog(db, OPERATOR), 10), [0] * 10)
    cid = store.get_run(run_id).clusters_detail[0].id
    r = run.invoke(cli, ["label", "propose", "kin", "hum", "--lang", "en", "--cluster", str(cid), "--json",
                         "--user", "ed"])
    assert r.exit_code == 0, r.output
    lid = json.loads(r.stdout)["id"]
    assert run.invoke(cli, ["label", "propose", "kin", "x", "--lang", "english", "--cluster", str(cid)]).exit_code == 2
    r = run.invoke(cli, ["label", "vote", str(lid), "--user", "v"])
    assert "accepted" in r.stdout
    r = run.invoke(cli, ["label", "history", str(lid), "--json"])
    assert [h["action"] for h in json.loads(r.stdout)] == ["propose", "vote", "accept"]
    r = run.invoke(cli, ["skos", "kin", "--format", "json-ld"])
    assert r.exit_code == 0 and len(Graph().parse(data=r.stdout, format="json-ld")) > 3
    assert run.invoke(cli, ["skos", "kin", "--format", "xml"]).exit_code == 2


def test_cluster_seed_is_optional_and_documented(cli: typer.Typer) -> None:
    from tessera.taxonomy.cluster import ClusterParams

    assert ClusterParams().seed is None  # the default run is the fast, parallel one
    r = CliRunner().invoke(cli, ["cluster", "--help"])
    assert r.exit_code == 0
    text = " ".join(r.stdout.split())
    assert "reproducible" in text and "single-threaded" in text and "every core" in text
