"""The engines for more than one machine are install extras: the one-machine install neither needs nor
imports them, and a setting that names one that is missing says what to install."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tessera.core.db import Database
from tessera.core.errors import Misconfigured

ROOT = Path(__file__).resolve().parents[1]


def test_engines_are_extras_and_the_tests_get_them() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"])
    for engine in ("psycopg", "distributed", "dask", "pymilvus", "milvus-lite"):
        assert engine not in core
    extras = project["optional-dependencies"]
    assert any(d.startswith("psycopg") for d in extras["postgres"])
    assert {d.split(">")[0] for d in extras["dask"]} >= {"dask", "distributed", "fsspec"}
    assert {d.split(">")[0] for d in extras["milvus"]} == {"pymilvus", "milvus-lite"}
    assert "tessera[postgres,dask]" in extras["dev"]  # the tests use the real PostgreSQL and a LocalCluster


def test_the_one_machine_path_imports_no_engine(tmp_path: Path) -> None:
    code = ("import sys; import tessera.cli, tessera.api.app, tessera.indexer.run, tessera.indexer.distributed; "
            "from tessera.compose import build; from tessera.core.settings import Settings; "
            f"build(Settings(data_dir={str(tmp_path)!r})).db.dispose(); "
            "print(sorted(m for m in ('psycopg', 'distributed', 'dask', 'fsspec') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_a_database_url_whose_driver_is_missing_says_so() -> None:
    with pytest.raises(Misconfigured) as exc:
        Database("postgresql+pg8000://tessera@127.0.0.1:5432/tessera")
    assert "TESSERA_DATABASE_URL" in exc.value.message and "'pg8000'" in exc.value.message
