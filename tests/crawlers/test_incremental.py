"""Incremental crawling against the replay server: paging that survives updates, limited runs that
continue, versions, licences that come back, same-named files and damaged transfers."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tessera.catalog.models import AudioFile, SourceRecord
from tessera.catalog.store import Catalog
from tessera.cli.crawl import crawl_ia, crawl_zenodo
from tessera.compose import consent_service
from tessera.consent.models import ConsentEvent
from tessera.crawlers.store import CrawlStore

from .conftest import (
    FAST,
    Replay,
    _set_files_legacy,
    audio_bytes,
    build_ia_world,
    build_zenodo_world,
    load,
    md5,
    rewrite,
    settings_for,
    snapshot,
    zip_bytes,
)

IA_KEY = 'internet_archive:{"collection": "", "q": ""}'


def _files(cat: Catalog, identifier: str | None = None) -> list[AudioFile]:
    with cat.db.session() as s:
        q = select(AudioFile).join(SourceRecord, SourceRecord.id == AudioFile.record_id).order_by(AudioFile.id)
        if identifier is not None:
            q = q.where(SourceRecord.identifier == identifier)
        return list(s.scalars(q))


def _zenodo(tmp_path: Path, replay: Replay, catalog: Catalog, **kw: Any) -> Any:
    return crawl_zenodo(settings_for(tmp_path, replay), catalog, time_scale=60, retry=FAST, **kw)


# -- 2: same-named files in different folders ---------------------------------------------------
def test_same_named_files_in_different_folders_stay_apart(
    tmp_path: Path, replay: Replay, catalog: Catalog
) -> None:
    base = replay.base
    item = rewrite(load("internet_archive/ia_metadata_test2_audio_opensource_podcast_ccby20.json"), base)
    item["metadata"]["identifier"] = "two-discs"
    d1, d2 = audio_bytes("FLAC", freq=300), audio_bytes("FLAC", freq=900)
    item["files"] = [
        {"name": name, "source": "original", "format": "Flac", "md5": md5(data), "size": str(len(data))}
        for name, data in (("disc1/01.flac", d1), ("disc2/01.flac", d2))
    ]
    replay.blobs["/download/two-discs/disc1/01.flac"] = d1
    replay.blobs["/download/two-discs/disc2/01.flac"] = d2
    replay.docs["/metadata/two-discs"] = item
    replay.ia_items = [{"identifier": "two-discs", "updated": "2024-01-01T00:00:00Z"}]
    s = crawl_ia(settings_for(tmp_path, replay), catalog, time_scale=50, retry=FAST)
    assert s.harvested == 1 and s.files_added == 2
    got = {f.filename: f for f in _files(catalog)}
    assert set(got) == {"disc1/01.flac", "disc2/01.flac"}
    p1, p2 = Path(got["disc1/01.flac"].path or ""), Path(got["disc2/01.flac"].path or "")
    assert p1 != p2 and p1.read_bytes() == d1 and p2.read_bytes() == d2
    assert p1.parent.name == "disc1" and p2.parent.name == "disc2"
    # a rerun finds both cached copies valid: nothing is downloaded again
    replay.log.clear()
    CrawlStore(catalog.db).set_crawl_state("internet_archive", IA_KEY, {})
    again = crawl_ia(settings_for(tmp_path, replay), catalog, time_scale=50, retry=FAST)
    assert again.unchanged == 1 and not replay.requests("/download/")


def test_archives_sharing_a_stem_extract_apart(tmp_path: Path, replay: Replay, catalog: Catalog) -> None:
    world = build_zenodo_world(replay)
    rec = world["legacy"]
    a, b = audio_bytes("WAV", freq=410), audio_bytes("WAV", freq=820)
    _set_files_legacy(
        rec, replay.base, {"take.v1.zip": zip_bytes({"01.wav": a}), "take.v2.zip": zip_bytes({"01.wav": b})},
        replay,
    )
    _zenodo(tmp_path, replay, catalog, page_size=25)
    got = {f.filename: f for f in _files(catalog, str(rec["id"]))}
    assert set(got) == {"take.v1.zip/01.wav", "take.v2.zip/01.wav"}
    assert Path(got["take.v1.zip/01.wav"].path or "").read_bytes() == a
    assert Path(got["take.v2.zip/01.wav"].path or "").read_bytes() == b


# -- 3: --limit runs continue where the last one stopped -----------------------------------------
def test_ia_limited_runs_continue(tmp_path: Path, replay: Replay, catalog: Catalog) -> None:
    build_ia_world(replay)
    st = settings_for(tmp_path, replay)
    order = [i["identifier"] for i in replay.ia_items]
    asked: list[list[str]] = []
    seen: list[int] = []
    for _ in range(6):
        replay.log.clear()
        s = crawl_ia(st, catalog, time_scale=50, page_size=3, retry=FAST, limit=2)
        asked.append([r[1].removeprefix("/metadata/") for r in replay.requests("/metadata/")])
        seen.append(s.seen)
    # 7 items, 2 a run: every item once, in order, across pages of 3; then the pass is complete and
    # the incremental runs that follow find nothing new
    assert seen == [2, 2, 2, 1, 0, 0]
    assert [i for run in asked for i in run] == order
    assert CrawlStore(catalog.db).get_crawl_state(IA_KEY).get("since")
    assert {(r[1], r[3]) for r in snapshot(catalog)} == {
        ("test2", "AudacityTest003.mp3"),
        ("lossless-item", "take.flac"),
    }


# -- 4: paging that survives records updated mid-crawl ---------------------------------------------
def test_zenodo_paging_survives_updates_mid_crawl(tmp_path: Path, replay: Replay, catalog: Catalog) -> None:
    world = build_zenodo_world(replay)
    ids = [str(r["id"]) for r in replay.zenodo_records]

    def bump(n: int) -> None:
        if n == 1:  # after the first page: a record on it is updated and moves to the end
            world["cc0"]["updated"] = "2024-02-01T00:00:00.000000+00:00"

    replay.on_search = bump
    s = _zenodo(tmp_path, replay, catalog, page_size=4)
    harvested = {r[1] for r in snapshot(catalog)}
    rejected = {r.identifier for r in CrawlStore(catalog.db).list_rejected(100, 0)[0]}
    # page numbers would have skipped the record that slid from page 2 to page 1; none is lost
    assert harvested | rejected == set(ids)
    assert s.seen == len(ids) + 1  # the updated record is seen again, at its new place
    assert CrawlStore(catalog.db).find_record("zenodo", str(world["cc0"]["id"])).source_updated.startswith("2024-02-01")  # type: ignore[union-attr]


def test_zenodo_paging_across_many_records_at_one_timestamp(
    tmp_path: Path, replay: Replay, catalog: Catalog
) -> None:
    build_zenodo_world(replay)
    for r in replay.zenodo_records:  # more records at one instant than a page holds: links.next it is
        r["updated"] = "2024-01-05T00:00:00+00:00"
    s = _zenodo(tmp_path, replay, catalog, page_size=4, dry_run=True)
    assert s.seen == len(replay.zenodo_records)


# -- 5: a new version updates the catalogue record --------------------------------------------------
def test_new_zenodo_version_updates_the_record(tmp_path: Path, replay: Replay, catalog: Catalog) -> None:
    world = build_zenodo_world(replay)
    old = world["legacy"]
    _zenodo(tmp_path, replay, catalog, page_size=25)
    before = {f.filename: f for f in _files(catalog, str(old["id"]))}
    assert set(before) == {"recordings.zip/a/one.wav", "recordings.zip/a/two.wav"}

    # version 2: same concept, a new recid, one file kept, one dropped, one added
    new = copy.deepcopy(old)
    new["id"] = 7248160
    new["doi"] = "10.5281/zenodo.7248160"
    new["metadata"]["version"] = "2"
    new["updated"] = "2024-03-01T00:00:00.000000+00:00"
    three = audio_bytes("WAV", freq=990)
    _set_files_legacy(
        new, replay.base,
        {"recordings.zip": zip_bytes({"a/one.wav": audio_bytes("WAV", freq=330), "a/three.wav": three})}, replay,
    )
    replay.docs["/api/records/7248160"] = new
    replay.zenodo_records.append(new)
    s = _zenodo(tmp_path, replay, catalog, page_size=25)
    assert s.harvested >= 1 and s.superseded == 0

    recs = [r for r in snapshot(catalog) if r[0] == "zenodo" and r[3].startswith("recordings.zip/")]
    assert {r[1] for r in recs} == {"7248160"}  # one record for the work, at its new version
    assert CrawlStore(catalog.db).find_record("zenodo", str(old["id"])) is None
    rec = CrawlStore(catalog.db).find_record("zenodo", "7248160")
    assert rec is not None and rec.version == "2" and rec.doi == "10.5281/zenodo.7248160"
    after = {f.filename: f for f in _files(catalog, "7248160")}
    assert {k: v.consent_state for k, v in after.items()} == {
        "recordings.zip/a/one.wav": "active",
        "recordings.zip/a/two.wav": "withdrawn",  # not in version 2
        "recordings.zip/a/three.wav": "active",
    }
    # the unchanged file is the same catalogue item (same id), not a duplicate
    assert after["recordings.zip/a/one.wav"].id == before["recordings.zip/a/one.wav"].id

    # the old version edited later (it shows up in an incremental run): it does not take the record back
    old["updated"] = "2024-04-01T00:00:00.000000+00:00"
    s2 = _zenodo(tmp_path, replay, catalog, page_size=25)
    assert s2.superseded == 1
    assert CrawlStore(catalog.db).find_record("zenodo", str(old["id"])) is None
    assert {f.filename: f.consent_state for f in _files(catalog, "7248160")} == {
        k: v.consent_state for k, v in after.items()
    }


# -- 6: a licence that is open again restores only what the licence took away ------------------------
def test_licence_open_again_restores_only_licence_withdrawals(
    tmp_path: Path, replay: Replay, catalog: Catalog
) -> None:
    world = build_zenodo_world(replay)
    legacy, rdm = world["legacy"], world["rdm"]
    _zenodo(tmp_path, replay, catalog, page_size=25)
    one = next(f for f in _files(catalog, str(legacy["id"])) if f.filename.endswith("one.wav"))
    consent = consent_service(catalog.db, settings_for(tmp_path, replay))
    consent.withdraw("file", str(one.id), actor="the uploader", reason="consent withdrawn")  # before

    legacy["metadata"]["license"] = {"id": "other-closed"}
    rdm["metadata"]["rights"] = [{"id": "other-closed"}]
    legacy["updated"] = "2024-02-01T00:00:00.000000+00:00"
    rdm["updated"] = "2024-02-02T00:00:00.000000+00:00"
    # withdrawn means withdrawn for the bytes: rdm's copy of one.wav went with it
    rdm_copy = next(f for f in _files(catalog, str(rdm["id"])) if f.md5 == one.md5)
    assert rdm_copy.consent_state == "withdrawn"
    s = _zenodo(tmp_path, replay, catalog, page_size=25)
    assert s.files_taken_down == 2  # two.wav and rdm's other file; one.wav and its copy were withdrawn already
    rdm_files = _files(catalog, str(rdm["id"]))
    assert {f.consent_state for f in rdm_files} == {"withdrawn"}
    victim = next(f for f in rdm_files if f.id != rdm_copy.id)
    consent.withdraw("file", str(victim.id), actor="the uploader", reason="consent withdrawn")  # after

    legacy["metadata"]["license"] = {"id": "cc-by-4.0"}
    rdm["metadata"]["rights"] = [{"id": "cc-by-4.0"}]
    legacy["updated"] = "2024-03-01T00:00:00.000000+00:00"
    rdm["updated"] = "2024-03-02T00:00:00.000000+00:00"
    s2 = _zenodo(tmp_path, replay, catalog, page_size=25)
    assert s2.files_restored == 1
    states = {(f.record_id, f.filename): f.consent_state for f in _files(catalog)}
    leg = {k[1]: v for k, v in states.items() if k[1].startswith("recordings.zip")}
    # one.wav stays withdrawn, its row scrubbed down to the audit trail (no file name); two.wav is back
    assert leg == {"recordings.zip/a/two.wav": "active"}
    assert {f.id: (f.consent_state, f.filename) for f in _files(catalog) if f.id == one.id} == {
        one.id: ("withdrawn", "(withdrawn)")}
    assert {f.id: f.consent_state for f in _files(catalog, str(rdm["id"]))} == {
        victim.id: "withdrawn",
        rdm_copy.id: "withdrawn",
    }
    with catalog.db.session() as ses:
        restores = list(ses.scalars(select(ConsentEvent).where(ConsentEvent.action == "restore")))
    restored = sorted(i for ev in restores for i in ev.file_ids)
    assert len(restored) == 1 and not {one.id, victim.id, rdm_copy.id} & set(restored)
    assert {ev.actor for ev in restores} == {"crawler"}
    # no longer listed as rejected; only the record that never had an open licence is
    rejected = CrawlStore(catalog.db).list_rejected(50, 0, reason="licence_not_open")[0]
    assert {r.identifier for r in rejected} == {"9000004"}


# -- 9: a damaged transfer is downloaded again before a checksum mismatch is final ------------------
def test_checksum_mismatch_is_retried_before_rejecting(tmp_path: Path, replay: Replay, catalog: Catalog) -> None:
    world = build_zenodo_world(replay)
    tone = f"/api/records/{world['cc0']['id']}/files/tone.flac/content"
    replay.fault(tone, "corrupt")  # the first download arrives damaged, the second is fine
    s = _zenodo(tmp_path, replay, catalog, page_size=25)
    assert len(replay.requests(tone)) == 2
    assert ("6515860", "tone.flac") in {(r[1], r[3]) for r in snapshot(catalog)}
    # a file whose bytes never match the source's md5 is rejected after three downloads
    bad = "/api/files/bucket-9000008/badsum.wav"
    assert len(replay.requests(bad)) == 3
    assert s.rejected["checksum_mismatch"] == 1
    rejected = CrawlStore(catalog.db).list_rejected(50, 0, reason="checksum_mismatch")[0]
    assert {r.identifier for r in rejected} == {"9000008"}
