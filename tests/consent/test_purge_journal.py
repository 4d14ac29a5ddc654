"""Purges are journalled, serialised and finished: concurrent withdrawals, a crash after the commit, a failing step."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tessera.catalog.store import FileIn, RecordIn
from tessera.catalog.visibility import OPERATOR, PUBLIC
from tessera.compose import Services, build
from tessera.core.errors import NotFound
from tessera.core.settings import Settings
from tessera.datasets.store import MemberIn
from tessera.indexer.dictionary import EXTRACTOR_VERSION
from tessera.indexer.preview import make_preview, preview_path
from tessera.indexer.run import IndexParams, run_index

NAMES = ["bd_haus", "bd_tek", "bd_zome", "bd_fat", "bd_boom", "bd_klub", "bd_gas", "bd_pure", "bd_808",
         "sn_dub", "sn_dolf", "sn_zome", "sn_generic", "drum_snare_hard", "drum_snare_soft", "drum_tom_hi_hard",
         "drum_tom_lo_hard", "drum_cymbal_open", "drum_cymbal_closed", "drum_cowbell", "elec_blip", "elec_ping"]


@pytest.fixture
def harvested(tmp_path: Path, sonic_pi: Path) -> Iterator[tuple[Services, dict[str, int]]]:
    """Harvested files (audio in Tessera's cache), indexed, each with a preview, all in one dataset."""
    svc = build(Settings(data_dir=tmp_path / "data"))
    catalog = svc.catalog(OPERATOR)
    rec = catalog.upsert_record(RecordIn("zenodo", "7", "Kit", "CC-BY-4.0", creator="Ana"))
    ids = {}
    for name in NAMES:
        cached = svc.settings.cache_dir / "zenodo" / "7" / f"{name}.flac"
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sonic_pi / f"{name}.flac", cached)
        ids[name] = catalog.add_file(rec, FileIn(f"{name}.flac", f"{len(ids):032x}", cached.stat().st_size,
                                                 path=str(cached), format="flac"))[0]
    run_index(svc.index_store, svc.settings.index_dir, IndexParams(), workers=2)
    for fid in ids.values():
        make_preview(Path(catalog.get_item(fid).path or ""), preview_path(svc.settings.previews_dir, fid))
    svc.datasets(OPERATOR).create("Kit", [MemberIn(f) for f in ids.values()], created_by="cur")
    yield svc, ids
    svc.close()


def _index_rows(svc: Services) -> set[int]:
    index = svc.settings.index_dir
    d = index / "builds" / (index / "CURRENT").read_text().strip()
    manifest = json.loads((d / "manifest.json").read_text())
    held: set[int] = set()
    for name, m in manifest["spaces"].items():
        held |= {int(f) for f in np.load(d / f"{name}.rows.npz")["file_ids"]} - set(m.get("removed_files", []))
    return held


def _left_behind(svc: Services, gone: set[int]) -> dict[str, set[int]]:
    """What is still held of ``gone`` in the index build that serves, the previews and the newest dataset."""
    datasets = svc.datasets(OPERATOR)
    newest = {m.file_id for m in datasets.version(datasets.list_datasets(10, 0)[0][0].id).members}
    return {
        "index": _index_rows(svc) & gone,
        "previews": {f for f in gone if preview_path(svc.settings.previews_dir, f).exists()},
        "dataset": newest & gone,
    }


def test_twenty_concurrent_withdrawals_leave_nothing_behind(harvested: tuple[Services, dict[str, int]]) -> None:
    svc, ids = harvested
    files_before = {p.name for p in (svc.settings.cache_dir / "zenodo" / "7").glob("*.flac")}
    victims = sorted(ids.values())[:20]
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda f: svc.consent.withdraw("file", str(f), "rights holder", "asked"), victims))
    assert all(r.file_ids == [f] for r, f in zip(results, victims, strict=True))
    gone = set(victims)
    assert _left_behind(svc, gone) == {"index": set(), "previews": set(), "dataset": set()}
    left = {p.name for p in (svc.settings.cache_dir / "zenodo" / "7").glob("*.flac")}
    assert len(left) == len(files_before) - 20, "every withdrawn file's cached audio is deleted, no other"
    kept = set(ids.values()) - gone
    assert _index_rows(svc) == kept and svc.consent.pending_purges() == 0
    assert len(svc.index_store.vector_set(EXTRACTOR_VERSION, segments=False).file_ids) == len(kept)


def test_a_crash_between_commit_and_purge_is_finished_by_the_next_sweep(
        harvested: tuple[Services, dict[str, int]]) -> None:
    svc, ids = harvested
    fid = ids["sn_dub"]
    cached = Path(svc.catalog(OPERATOR).get_item(fid).path or "")
    # the first half of a withdrawal, as a process killed right after its commit leaves it
    ids_out, job = svc.consent.store.withdraw("file", str(fid), "rights holder", "asked")
    assert ids_out == [fid] and svc.consent.pending_purges() == 1
    with pytest.raises(NotFound):
        svc.catalog(PUBLIC).get_item(fid)  # hidden at once
    assert cached.exists() and fid in _index_rows(svc)  # but not yet purged
    svc.sweep()  # the server's schedule, or the next CLI command, does this
    assert not cached.exists() and fid not in _index_rows(svc)
    assert not preview_path(svc.settings.previews_dir, fid).exists() and svc.consent.pending_purges() == 0
    row = svc.consent.store.get_job(job)
    assert row is not None and row.done_at is not None and row.attempts == 1


def test_a_failing_step_keeps_the_job_and_the_others_still_run(harvested: tuple[Services, dict[str, int]]) -> None:
    svc, ids = harvested
    fid = ids["bd_haus"]
    preview = preview_path(svc.settings.previews_dir, fid)
    preview.unlink()
    preview.mkdir()  # something in the way: deleting "the preview" fails
    (preview / "x").write_bytes(b"x")
    w = svc.consent.withdraw("file", str(fid), "rights holder", "asked")
    assert w.pending and svc.consent.pending_purges() == 1
    assert fid not in _index_rows(svc), "the other steps ran"
    job = svc.consent.store.pending_jobs()[0]
    assert job.error and job.error.startswith("previews:")
    shutil.rmtree(preview)
    svc.sweep()
    assert svc.consent.pending_purges() == 0


def test_withdrawn_bytes_stay_withdrawn_under_another_record(harvested: tuple[Services, dict[str, int]],
                                                            tmp_path: Path) -> None:
    svc, ids = harvested
    catalog = svc.catalog(OPERATOR)
    original = catalog.get_item(ids["bd_tek"])
    # a mirror registered before the withdrawal goes with it
    mirror_rec = catalog.upsert_record(RecordIn("folder", "/mirror", "Mirror", "CC0-1.0", creator="Someone"))
    mirror = catalog.add_file(mirror_rec, FileIn("copy.flac", original.md5, original.size, path=original.path))[0]
    w = svc.consent.withdraw("file", str(original.id), "rights holder", "asked")
    assert w.file_ids == sorted([original.id, mirror])
    # a copy registered after it (another source) is hidden and never indexed
    later_rec = catalog.upsert_record(RecordIn("internet_archive", "x", "Later", "CC0-1.0", creator="Else"))
    copy = tmp_path / "again.flac"
    copy.write_bytes(b"same bytes")
    later = catalog.add_file(later_rec, FileIn("again.flac", original.md5, 10, path=str(copy)))[0]
    with pytest.raises(NotFound):
        svc.catalog(PUBLIC).get_item(later)
    with pytest.raises(NotFound):
        catalog.get_item(later)  # not even the operator serves it
    assert later not in {t.file_id for t in svc.index_store.files_to_index(EXTRACTOR_VERSION)}
