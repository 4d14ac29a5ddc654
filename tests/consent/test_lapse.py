"""Consent that lapses while nothing but `tessera index` runs is purged everywhere by that run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from tessera.catalog.store import FileIn, RecordIn
from tessera.catalog.visibility import OPERATOR
from tessera.compose import build
from tessera.core.settings import Settings
from tessera.datasets.store import MemberIn
from tessera.indexer.preview import make_preview, preview_path


def _index(data: Path) -> dict[str, object]:
    env = {**os.environ, "TESSERA_DATA_DIR": str(data), "OMP_NUM_THREADS": "1"}
    env.pop("TESSERA_DATABASE_URL", None)
    run = subprocess.run([sys.executable, "-m", "tessera.cli", "index", "--workers", "1", "--json"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    out: dict[str, object] = json.loads(run.stdout)
    return out


def _rows(data: Path) -> set[int]:
    """File ids held by every space of the index build that CURRENT names."""
    index = data / "index"
    build_dir = index / "builds" / (index / "CURRENT").read_text().strip()
    manifest = json.loads((build_dir / "manifest.json").read_text())
    held: set[int] = set()
    for name in manifest["spaces"]:
        held |= {int(f) for f in np.load(build_dir / f"{name}.rows.npz")["file_ids"]}
        held -= {int(f) for f in manifest["spaces"][name].get("removed_files", [])}
    return held


def test_lapsed_consent_is_purged_by_an_index_run_alone(tmp_path: Path, sonic_pi: Path) -> None:
    data = tmp_path / "data"
    settings = Settings(data_dir=data)
    svc = build(settings)
    catalog = svc.catalog(OPERATOR)
    # two harvested files: their audio sits in Tessera's own download cache
    rec = catalog.upsert_record(RecordIn("zenodo", "42", "Drums", "CC-BY-4.0", creator="Ana"))
    ids = {}
    for name in ("bd_haus", "sn_dub"):
        cached = settings.cache_dir / "zenodo" / "42" / f"{name}.flac"
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sonic_pi / f"{name}.flac", cached)
        ids[name] = catalog.add_file(rec, FileIn(f"{name}.flac", name.ljust(32, "0"), cached.stat().st_size,
                                                 path=str(cached), format="flac"))[0]
    assert _index(data)["indexed"] == 2
    lapsing, kept = ids["bd_haus"], ids["sn_dub"]
    assert _rows(data) == {lapsing, kept}
    preview = make_preview(Path(catalog.get_item(lapsing).path or ""), preview_path(settings.previews_dir, lapsing))
    datasets = svc.datasets(OPERATOR)
    d = datasets.create("Kit", [MemberIn(lapsing), MemberIn(kept)], created_by="curator")
    cached = Path(catalog.get_item(lapsing).path or "")
    # consent for a period that ends while nobody runs the server or the sweeper
    svc.consent.set_period("file", str(lapsing), datetime.now(UTC) + timedelta(seconds=1), "ana", "a trial")
    svc.close()
    time.sleep(1.5)

    _index(data)  # the only thing that runs after the lapse

    svc = build(settings)
    assert not cached.exists(), "cached audio deleted"
    assert not preview.exists(), "preview deleted"
    assert _rows(data) == {kept}, "vectors out of every space"
    v = svc.datasets(OPERATOR).version(d.id)
    assert [m.file_id for m in v.members] == [kept] and v.version == 2
    assert (v.origin or {})["kind"] == "withdrawal"
    ev = svc.consent.events()[-1]
    assert (ev.action, ev.file_ids) == ("expire", [lapsing])
    assert svc.consent.pending_purges() == 0
    assert Path(catalog.get_item(kept).path or "").exists(), "the other file is untouched"
    svc.close()
