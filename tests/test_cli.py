"""The `tessera` command as a user runs it (subprocesses, real files)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path


def _run(args: list[str], data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TESSERA_DATA_DIR": str(data), "OMP_NUM_THREADS": "1"}
    env.pop("TESSERA_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "tessera.cli", *args], env=env, capture_output=True, text=True,
                          timeout=300)


def test_add_index_status(tmp_path: Path, corpus_dir: Path) -> None:
    folder = tmp_path / "music"
    folder.mkdir()
    for name in ("bd_haus.flac", "sn_dub.flac", "guit_em9.opus", "broken.wav"):
        shutil.copy(corpus_dir / name, folder / name)
    data = tmp_path / "data"

    bad = _run(["add", str(folder), "--licence", "All rights reserved", "--creator", "X"], data)
    assert bad.returncode == 2
    assert "unknown or non-open licence" in bad.stderr

    first = _run(["add", str(folder), "--licence", "cc-by-sa-4.0", "--creator", "Ana", "--json"], data)
    assert first.returncode == 0, first.stderr
    body = json.loads(first.stdout)
    assert (body["found"], body["added"]) == (4, 4)
    again = json.loads(_run(["add", str(folder), "--licence", "CC-BY-SA-4.0", "--creator", "Ana", "--json"],
                            data).stdout)
    assert (again["added"], again["unchanged"]) == (0, 4)

    idx = _run(["index", "--workers", "1", "--json"], data)
    assert idx.returncode == 0, idx.stderr  # a broken file is reported, not a failed run
    rep = json.loads(idx.stdout)
    assert (rep["indexed"], rep["failed"]) == (3, 1)
    assert rep["index"]["all"]["count"] == 3
    assert "indexing" in idx.stderr  # the progress bar goes to stderr

    status = json.loads(_run(["status", "--json"], data).stdout)
    assert status["counts"]["indexed"] == 3
    assert [f["file"] for f in status["failed"]] == ["broken.wav"]


def test_add_missing_folder(tmp_path: Path) -> None:
    r = _run(["add", str(tmp_path / "nope"), "--licence", "CC0-1.0", "--creator", "X"], tmp_path / "d")
    assert r.returncode == 2 and "no such file or folder" in r.stderr
