"""Index increments on real audio: new files join the live index, a changed metric rebuilds, a killed or
failed increment leaves the previous build serving, withdrawals leave the index."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest

from tessera.catalog.store import Catalog, ItemFilter
from tessera.consent.service import ConsentService
from tessera.core.settings import Settings
from tessera.crawlers.sources.folder import add_folder
from tessera.indexer.builds import DEAD, current_build, read_manifest, read_rows, read_space
from tessera.indexer.increment import IncrementParams, update_indexes
from tessera.indexer.run import IndexParams, run_index
from tessera.indexer.similarity import IndexSet
from tessera.indexer.spaces import SPACES, Space, space_digest
from tessera.indexer.store import IndexStore

SAMPLES = Path("/usr/share/sonic-pi/samples")
FIRST = sorted(SAMPLES.glob("*.flac"))[:24]
MORE = sorted(SAMPLES.glob("*.flac"))[100:105]
# a handful of sounds moves a 24-sound catalogue's statistics a lot: these tests look at the increment
# itself, so its drift and growth bounds are opened (their own test keeps the defaults)
OPEN = IncrementParams(max_drift=1e9, max_growth=1e9)


def _folder(dst: Path, files: list[Path]) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(f, dst / f.name)
    return dst


def _index(catalog: Catalog, index_dir: Path, params: IncrementParams = OPEN) -> dict[str, Any]:
    return run_index(IndexStore(catalog.db), index_dir, IndexParams(increment=params), workers=2).manifest


def _ids(catalog: Catalog) -> dict[str, int]:
    return {i.title: i.id for i in catalog.list_items(ItemFilter(), 200, 0)[0]}


def _vector(catalog: Catalog, fid: int) -> np.ndarray:
    feats = catalog.get_features(fid)
    assert feats is not None
    return np.frombuffer(feats.vector, dtype=np.float32)


def test_new_files_join_the_live_index(catalog: Catalog, tmp_path: Path) -> None:
    audio = _folder(tmp_path / "audio", FIRST)
    add_folder(catalog, audio, "CC0-1.0", "Sonic Pi contributors")
    index_dir = tmp_path / "index"
    first = _index(catalog, index_dir)
    assert first["kind"] == "build" and first["rebuild_reason"] == "no index yet"
    served = IndexSet(index_dir)
    before = served.space("all")
    n0 = before.index.ntotal
    assert first["spaces"]["all"]["files"] == 24

    _folder(audio, MORE)
    add_folder(catalog, audio, "CC0-1.0", "Sonic Pi contributors")
    rep = run_index(IndexStore(catalog.db), index_dir, IndexParams(increment=OPEN), workers=2)
    assert rep.total == 5 and rep.indexed == 5  # only the new files were analysed
    m = rep.manifest
    assert m["kind"] == "increment" and m["derived_from"] == first["build"]
    assert m["files_added"] == 5 and m["rows_added"] >= 5 and m["rows_removed"] == 0
    for name in SPACES:
        s, s0 = m["spaces"][name], first["spaces"][name]
        assert s["count"] == s0["count"] + m["rows_added"] and s["files"] == 29
        # the build's statistics are kept: old and new rows are transformed alike
        assert s["transform_digest"] == s0["transform_digest"] and s["added_since_fit"] == 5
        assert s["drift"] > 0
    # the old rows are where they were, the new ones after them
    old, new = read_rows(index_dir, first["build"], "all"), read_rows(index_dir, m["build"], "all")
    assert np.array_equal(new.file_ids[:n0], old.file_ids)
    ids = _ids(catalog)
    added = {ids[p.stem] for p in MORE}
    assert set(new.file_ids[n0:]) == added

    # the running server's index set picks the increment up without a restart, and finds the new files
    live = served.space("all")
    assert served.manifest["build"] == m["build"] and live.index.ntotal == n0 + m["rows_added"]
    for fid in added:
        hits = live.search(_vector(catalog, fid), 3)
        assert hits[0].file_id == fid and hits[0].distance < 1e-3

    # nothing new: nothing redone, the same build serves
    again = _index(catalog, index_dir)
    assert again["build"] == m["build"] and again.get("unchanged")


def test_a_changed_space_definition_forces_a_rebuild(catalog: Catalog, tmp_path: Path) -> None:
    audio = _folder(tmp_path / "audio", FIRST[:12])
    add_folder(catalog, audio, "CC0-1.0", "x")
    index_dir = tmp_path / "index"
    first = _index(catalog, index_dir)
    # the build on disk was made under another definition of `timbre` (another weight for one aspect)
    t = SPACES["timbre"]
    other = Space(t.name, t.description, (t.aspects[0].__class__(t.aspects[0].name, t.aspects[0].prefixes, 2.0),
                                          *t.aspects[1:]), t.whiten)
    assert space_digest(other) != space_digest(t)
    path = index_dir / "builds" / first["build"] / "manifest.json"
    man = json.loads(path.read_text())
    man["spaces"]["timbre"]["space_digest"] = space_digest(other)
    path.write_text(json.dumps(man))

    _folder(audio, FIRST[12:14])
    add_folder(catalog, audio, "CC0-1.0", "x")
    m = _index(catalog, index_dir)
    assert m["kind"] == "build" and m["rebuild_reason"] == "the timbre space's definition changed"
    assert m["spaces"]["timbre"]["space_digest"] == space_digest(t) and m["spaces"]["all"]["files"] == 14


def test_drift_refits_the_statistics(catalog: Catalog, tmp_path: Path) -> None:
    audio = _folder(tmp_path / "audio", FIRST[:12])
    add_folder(catalog, audio, "CC0-1.0", "x")
    index_dir = tmp_path / "index"
    first = _index(catalog, index_dir, IncrementParams())
    _folder(audio, MORE)
    add_folder(catalog, audio, "CC0-1.0", "x")
    m = _index(catalog, index_dir, IncrementParams(max_growth=1e9))  # the default drift bound
    assert m["kind"] == "build" and "drifted" in m["rebuild_reason"]
    assert m["spaces"]["all"]["transform_digest"] != first["spaces"]["all"]["transform_digest"]
    assert m["spaces"]["all"]["added_since_fit"] == 0 and m["spaces"]["all"]["fit_rows"] == 17


KILLER = """
import resource, signal, sys
from pathlib import Path
import faiss  # imported before the limit: nothing but the index files is written after it
from tessera.core.db import Database
from tessera.indexer.increment import IncrementParams, update_indexes
from tessera.indexer.store import IndexStore

db = Database(sys.argv[1])
if sys.argv[3] == "kill":
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # Python ignores it; the kernel's default ends the process
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))
update_indexes(IndexStore(db), Path(sys.argv[2]), IncrementParams(max_drift=1e9, max_growth=1e9))
"""


@pytest.mark.parametrize("how", ["kill", "fail"])
def test_a_killed_or_failed_increment_leaves_the_previous_build_serving(catalog: Catalog, tmp_path: Path,
                                                                        how: str) -> None:
    audio = _folder(tmp_path / "audio", FIRST[:12])
    add_folder(catalog, audio, "CC0-1.0", "x")
    index_dir = tmp_path / "index"
    first = _index(catalog, index_dir)
    _folder(audio, MORE[:2])
    add_folder(catalog, audio, "CC0-1.0", "x")
    run_index(IndexStore(catalog.db), index_dir / "elsewhere", IndexParams(), workers=1)  # features only
    # the increment runs in a process that may write no file over 2 kB: the first index file ends it,
    # by the kernel's signal (killed) or by the write error it raises (failed)
    proc = subprocess.run([sys.executable, "-c", KILLER, catalog.db.url, str(index_dir), how],
                          capture_output=True, text=True, env={"PYTHONDONTWRITEBYTECODE": "1",
                                                               "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
                                                               "PYTHONPATH": ":".join(sys.path)})
    builds = index_dir / "builds"
    if how == "kill":
        assert proc.returncode == -signal.SIGXFSZ, proc.stderr
        assert [p for p in builds.iterdir() if p.name.startswith(".tmp-")]  # it was killed mid-write
    else:
        assert proc.returncode == 1 and "Traceback" in proc.stderr
        assert not [p for p in builds.iterdir() if p.name.startswith(".tmp-")]  # it cleaned up after itself
    assert current_build(index_dir) == first["build"]
    served = IndexSet(index_dir)
    assert served.space("all").index.ntotal == first["spaces"]["all"]["count"]
    ids = _ids(catalog)
    fid = ids[MORE[0].stem]
    assert fid not in {h.file_id for h in served.space("all").search(_vector(catalog, fid), 5)}

    # the next run clears what the killed one left and adds the files
    m = update_indexes(IndexStore(catalog.db), index_dir, OPEN)
    assert m["kind"] == "increment" and m["derived_from"] == first["build"] and m["files_added"] == 2
    assert not [p for p in builds.iterdir() if p.name.startswith(".tmp-")]
    assert served.space("all").search(_vector(catalog, fid), 1)[0].file_id == fid


def test_withdrawal_removes_rows_from_flat_and_hnsw(catalog: Catalog, consent: ConsentService,
                                                    settings: Settings, tmp_path: Path) -> None:
    audio = _folder(tmp_path / "audio", FIRST[:16])
    add_folder(catalog, audio, "CC0-1.0", "x")
    index_dir = settings.index_dir  # where the consent service's purge takes files out
    hnsw = IncrementParams(exact_limit=1, max_drift=1e9, max_growth=1e9, recall_every=1, max_dead=0.2)
    first = _index(catalog, index_dir, hnsw)
    assert first["spaces"]["all"]["index_type"].startswith("hnsw")
    ids = _ids(catalog)
    gone = ids[FIRST[0].stem]
    served = IndexSet(index_dir)
    assert served.space("all").search(_vector(catalog, gone), 1)[0].file_id == gone

    w = consent.withdraw("file", str(gone), actor="rights holder", reason="asked")
    assert w.file_ids == [gone]
    m = read_manifest(index_dir, current_build(index_dir) or "")
    assert m["kind"] == "withdrawal" and m["spaces"]["all"]["dead_rows"] == 1
    rows = read_rows(index_dir, m["build"], "all")
    assert gone not in set(rows.file_ids) and (rows.file_ids == DEAD).sum() == 1
    # the dead row's features are gone from the index file itself (only its place in the graph stays)
    saved, _ = read_space(index_dir, m["build"], "all")
    storage = faiss.downcast_index(saved.storage)
    dead_at = int(np.nonzero(rows.file_ids == DEAD)[0][0])
    assert not storage.reconstruct(dead_at).any() and storage.reconstruct((dead_at + 1) % storage.ntotal).any()
    assert gone not in {h.file_id for h in served.space("all").search(_vector(catalog, ids[FIRST[1].stem]), 16)}

    # an increment on HNSW adds to the graph and, every Nth time (here each), measures its recall
    _folder(audio, MORE[:1])
    add_folder(catalog, audio, "CC0-1.0", "x")
    inc = _index(catalog, index_dir, hnsw)
    assert inc["kind"] == "increment" and inc["spaces"]["all"]["recall_build"] == inc["build"]
    assert inc["spaces"]["all"]["recall_at_10"] >= 0.95 and inc["spaces"]["all"]["dead_rows"] == 1

    # withdrawn rows past their share of the graph: the next update compacts them away in a full build
    for p in FIRST[1:4]:
        consent.withdraw("file", str(ids[p.stem]), actor="rights holder", reason="asked")
    _folder(audio, MORE[1:2])
    add_folder(catalog, audio, "CC0-1.0", "x")
    full = _index(catalog, index_dir, hnsw)
    assert full["kind"] == "build" and "withdrawn rows" in full["rebuild_reason"]
    assert full["spaces"]["all"]["dead_rows"] == 0 and full["spaces"]["all"]["files"] == 16 - 4 + 2

    # on a flat index the rows are deleted
    flat = update_indexes(IndexStore(catalog.db), index_dir, rebuild=True)
    assert flat["spaces"]["all"]["index_type"] == "flat"
    victim = ids[FIRST[5].stem]
    consent.withdraw("file", str(victim), actor="rights holder", reason="asked")
    m = read_manifest(index_dir, current_build(index_dir) or "")
    assert m["spaces"]["all"]["count"] == flat["spaces"]["all"]["count"] - 1 and m["spaces"]["all"]["dead_rows"] == 0
    assert victim not in set(read_rows(index_dir, m["build"], "all").file_ids)
