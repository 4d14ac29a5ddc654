from __future__ import annotations

import copy
import hashlib
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from tessera.catalog.models import AudioFile, SourceRecord
from tessera.catalog.store import Catalog
from tessera.catalog.visibility import OPERATOR
from tessera.cli.crawl import crawl_ia, crawl_zenodo
from tessera.compose import consent_service
from tessera.crawlers.archives import ArchiveLimits, extract_audio
from tessera.crawlers.errors import UnsafeArchive
from tessera.crawlers.http import (
    ZENODO_GUEST,
    PoliteClient,
    RateLimit,
    SlidingWindowLimiter,
    scaled,
)
from tessera.crawlers.models import CrawlState, RejectedRecord
from tessera.crawlers.sources.internet_archive import choose_files, parse_length
from tessera.crawlers.sources.zenodo import parse_record
from tessera.crawlers.store import CrawlStore

from .conftest import (
    FAST,
    FIXTURES,
    REPO,
    ZENODO_WORLD_REJECTED,
    Replay,
    build_ia_world,
    build_zenodo_world,
    load,
    settings_for,
    snapshot,
    zip_bytes,
)


# -- pure parts -----------------------------------------------------------------------------
def test_limiter_sliding_window_with_fake_clock() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    lim = SlidingWindowLimiter([RateLimit(3, 10.0), RateLimit(5, 100.0)], clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        lim.acquire()
    assert lim.wait_time(now[0]) == pytest.approx(10.0)
    lim.acquire()
    assert now[0] == pytest.approx(10.0)
    lim.acquire()
    assert lim.wait_time(now[0]) == pytest.approx(90.0)  # the hourly-style window now binds
    assert scaled(ZENODO_GUEST) == [RateLimit(54, 60.0), RateLimit(1800, 3600.0)]


def test_limiter_counts_a_request_from_its_answer() -> None:
    """The safety margin: the window of a request starts when it is answered, not when it was sent."""
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    lim = SlidingWindowLimiter([RateLimit(2, 10.0)], clock=lambda: now[0], sleep=sleep)
    lim.acquire()
    now[0] = 3.0  # the answer took 3 s to come back
    lim.settle()
    lim.acquire()
    lim.settle()
    lim.acquire()  # the third may go 10 s after the first *answer*
    assert now[0] == pytest.approx(13.0)


def test_parse_three_zenodo_shapes() -> None:
    legacy = parse_record(load("zenodo/zenodo_legacy2022_record_7248153_zip_file.json"), "https://zenodo.org")
    assert (legacy.licence, legacy.files[0].md5, legacy.doi) == (
        "CC-BY-4.0",
        "c49bdd558d7874ee0135ee9a49584032",
        "10.5281/zenodo.7248153",
    )
    today = parse_record(
        load("zenodo/zenodo_rdm2023_search_hit_legacyjson_6515860.json"), "https://zenodo.org"
    )
    assert today.licence == "cc-zero" and today.files[1].url.endswith("/RSC.zip/content")
    rdm = parse_record(
        load("zenodo/zenodo_rdm_native_record_2867216_audio_wav_zip_ccby40.json"), "https://zenodo.org"
    )
    assert rdm.licence == "cc-by-4.0" and rdm.creator and rdm.creator.startswith("Hagen Jaeger")
    assert rdm.files[0].url.endswith("/content") and rdm.files[0].size == 606144431 and rdm.rejection is None


def test_ia_file_choice_and_length() -> None:
    meta = load("internet_archive/ia_metadata_test2_audio_opensource_podcast_ccby20.json")
    assert [f["name"] for f in choose_files(meta["files"])] == ["AudacityTest003.mp3"]
    assert parse_length("148.97") == pytest.approx(148.97) and parse_length("02:28") == 148.0
    assert (
        choose_files(load("internet_archive/ia_metadata_nasa_collection_item_nolicense.json")["files"]) == []
    )


def test_archive_extraction_is_safe(tmp_path: Path) -> None:
    lim = ArchiveLimits(max_members=10, max_total_bytes=1 << 20, max_ratio=50)
    for name, data in {
        "slip.zip": zip_bytes({"../x.wav": b"RIFF", "ok.wav": b"RIFF"}),
        "abs.zip": zip_bytes({"/etc/x.wav": b"1", "ok.wav": b"RIFF"}),
        "bomb.zip": zip_bytes({"a.wav": b"\0" * (2 << 20), "ok.wav": b"RIFF"}),
    }.items():
        p = tmp_path / name
        p.write_bytes(data)
        got = extract_audio(p, tmp_path / f"{name}.out", lim)
        assert [m.name for m in got.members] == ["ok.wav"], name
        assert [r.code for r in got.rejected] == [UnsafeArchive.code], name
    # a symlink member in a zip
    p = tmp_path / "link.zip"
    with zipfile.ZipFile(p, "w") as zf:
        info = zipfile.ZipInfo("l.wav")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    got = extract_audio(p, tmp_path / "out", lim)
    assert not got.members and [r.code for r in got.rejected] == [UnsafeArchive.code]
    assert not (tmp_path / "x.wav").exists() and not (tmp_path / "out").exists()


# -- against the replay server ------------------------------------------------------------------
def test_zenodo_crawl_with_faults(tmp_path: Path, replay: Replay, catalog: Catalog) -> None:
    world = build_zenodo_world(replay)
    st = settings_for(tmp_path, replay)
    legacy_zip = f"/api/files/bucket-{world['legacy']['id']}/recordings.zip"
    replay.fault("/api/records", "badjson", "503")  # first search page: malformed, then 503, then fine
    replay.fault(legacy_zip, "500", "truncate", "drop")
    replay.fault(f"/api/records/{world['cc0']['id']}/files/tone.flac/content", "429", "slow")
    replay.fault("/api/files/bucket-9000003/take9000003.wav", *["500"] * 10)  # gives up: an error
    rdm_zip = urlsplit(world["rdm"]["files"]["entries"]["26_29_09_2017_KCL.zip"]["links"]["content"]).path
    replay.fault(rdm_zip, "corrupt")  # a damaged transfer: downloaded again, not rejected
    replay.limit = (60, 1.0)  # an emulated Zenodo (60/min compressed 60x)
    s = crawl_zenodo(st, catalog, time_scale=60, page_size=4, retry=FAST)
    d = s.as_dict()
    print(
        "\nfaulted zenodo crawl:",
        {
            k: d[k]
            for k in (
                "seen",
                "harvested",
                "rejected",
                "files_rejected",
                "files_added",
                "files_downloaded",
                "bytes",
                "errors",
                "retries",
                "rate_limited",
            )
        },
    )
    assert d["rejected"] == ZENODO_WORLD_REJECTED
    assert d["seen"] == 14 and d["harvested"] == 3 and d["errors"] == 1
    assert len(replay.requests(rdm_zip)) == 2
    print(f"busiest emulated-minute window {replay.max_in_window(1.0)} of 60 (0.9 allowed)")
    assert all(r[2].startswith("Tessera/") for r in replay.requests())
    assert replay.max_in_window(1.0) <= 54 and not [
        r
        for r in replay.requests()
        if r[3] == 429 and r[1] != f"/api/records/{world['cc0']['id']}/files/tone.flac/content"
    ]
    snap = snapshot(catalog)
    assert {(r[1], r[2]) for r in snap} == {
        ("7248153", "CC-BY-4.0"),
        ("6515860", "CC0-1.0"),
        ("2867216", "CC-BY-4.0"),
    }
    assert {r[3] for r in snap} >= {"recordings.zip/a/one.wav", "recordings.zip/a/two.wav", "tone.flac"}
    assert not any(r[3].endswith(".csv") for r in snap)
    rejected, _ = CrawlStore(catalog.db).list_rejected(100, 0)
    assert {(r.identifier, r.reason) for r in rejected} >= {
        ("9000006", "unsafe_archive"),
        ("9000005", "no_licence"),
    }
    assert not list((tmp_path / "data").rglob("*.part"))

    # second run (incremental): the failed record is retried first and now succeeds; only it and the
    # last record (the range is inclusive) are seen again
    replay.faults.clear()
    s2 = crawl_zenodo(st, catalog, time_scale=60, page_size=4, retry=FAST)
    assert s2.errors == 0 and s2.files_added == 1
    assert ("9000003", "CC-BY-NC-4.0") in {(r[1], r[2]) for r in snapshot(catalog)}
    assert s2.seen == 2


def test_licence_change_takes_item_out_of_search(tmp_path: Path, replay: Replay, catalog: Catalog) -> None:
    world = build_zenodo_world(replay)
    st = settings_for(tmp_path, replay)
    crawl_zenodo(st, catalog, time_scale=60, page_size=25, retry=FAST)
    legacy = world["legacy"]
    legacy["metadata"]["license"] = {"id": "other-closed"}
    legacy["updated"] = "2024-02-01T00:00:00.000000+00:00"
    s = crawl_zenodo(st, catalog, time_scale=60, page_size=25, retry=FAST)
    assert s.seen == 2 and s.files_taken_down == 2  # incremental: the updated record (+ the boundary one)
    states = {r[3]: r[7] for r in snapshot(catalog) if r[1] == "7248153"}
    assert set(states.values()) == {"withdrawn"}
    assert any(
        r.reason == "licence_not_open"
        for r in CrawlStore(catalog.db).list_rejected(50, 0, reason="licence_not_open")[0]
    )


def test_rate_limit_fraction(tmp_path: Path, replay: Replay) -> None:
    """Hammer an emulated Zenodo limit (60/min compressed to 60 per 0.5 s): at most 90%, never a 429."""
    build_zenodo_world(replay)
    replay.limit = (60, 0.5)
    lim = SlidingWindowLimiter(scaled(ZENODO_GUEST, 0.9, time_scale=120))
    n = 300
    with PoliteClient("Tessera-test", lim, FAST) as client:
        t0 = time.monotonic()
        for _ in range(n):
            client.get_json(f"{replay.base}/api/records/7248153")
        elapsed = time.monotonic() - t0
    peak = replay.max_in_window(0.5)
    print(
        f"\n{n} requests in {elapsed:.2f}s ({n / elapsed:.1f} req/s); busiest 0.5 s window at the server "
        f"{peak} of the emulated 60 = {peak / 60:.3f} of the limit"
    )
    # counted at the server, by arrival: the limiter counts each request from its answer, so transit
    # jitter cannot crowd a 55th into a window
    assert peak <= 54
    assert not [r for r in replay.requests() if r[3] == 429]


def test_search_rate_limit_fraction(tmp_path: Path, replay: Replay, catalog: Catalog) -> None:
    """Zenodo's search limit (30/min) is separate and stricter: a crawl paging one hit at a time stays
    at <= 90% of it (27 per window) while the general limit (60/min) is emulated too."""
    build_zenodo_world(replay)
    template = replay.zenodo_records[3]  # a recorded dataset hit: CSV/PDF only, so nothing to download
    for i in range(50):
        extra = copy.deepcopy(template)
        extra.update(id=9100000 + i, conceptrecid=str(9200000 + i), updated=f"2024-03-01T10:00:{i:02d}+00:00")
        replay.zenodo_records.append(extra)
    replay.limit = (60, 1.0)  # 60/min and 30/min, compressed 60x
    replay.search_limit = (30, 1.0)
    s = crawl_zenodo(settings_for(tmp_path, replay), catalog, dry_run=True, time_scale=60, page_size=2,
                     retry=FAST)
    n = len([r for r in replay.requests("/api/records") if r[1].rstrip("/") == "/api/records"])
    peak = replay.max_in_window(1.0, search_only=True)
    general = replay.max_in_window(1.0)
    print(
        f"\n{n} search requests; busiest 1 s window {peak} of the emulated 30 = {peak / 30:.3f} of the "
        f"search limit; all requests {general} of 60 = {general / 60:.3f}"
    )
    assert s.seen == 64 and n > 30  # more searches than one window allows: the limiter had to act
    assert peak <= 27 and general <= 54
    assert not [r for r in replay.requests() if r[3] == 429]


def test_ia_crawl(tmp_path: Path, replay: Replay, catalog: Catalog) -> None:
    build_ia_world(replay)
    st = settings_for(tmp_path, replay)
    replay.fault("/download/test2/AudacityTest003.mp3", "503")
    s = crawl_ia(st, catalog, time_scale=50, page_size=3, retry=FAST)
    d = s.as_dict()
    print("\nia crawl:", {k: d[k] for k in ("seen", "harvested", "rejected", "errors", "warnings")})
    assert d["rejected"] == {"live_music_archive": 1, "no_licence": 1, "not_found": 3}
    assert d["harvested"] == 2 and d["errors"] == 0 and not d["warnings"]
    snap = snapshot(catalog)
    assert {(r[1], r[3], r[6]) for r in snap} == {
        ("test2", "AudacityTest003.mp3", "CC-BY-2.0"),
        ("lossless-item", "take.flac", "CC0-1.0"),
    }
    assert CrawlStore(catalog.db).get_crawl_state('internet_archive:{"collection": "", "q": ""}').get("since")
    # about 1 request/s to the Archive (here 50x faster): never two requests inside one emulated second
    times = sorted(r[0] for r in replay.requests())
    span = (times[-1] - times[0]) * 50
    print(f"ia: {len(times)} requests over {span:.1f} emulated s ({(len(times) - 1) / span:.2f} of 1 req/s)")
    assert replay.max_in_window(1 / 50) == 1
    # incremental: nothing changed since the pass started
    s2 = crawl_ia(st, catalog, time_scale=50, page_size=3, retry=FAST)
    assert s2.seen == 0


def test_dry_run_writes_nothing(tmp_path: Path, replay: Replay, catalog: Catalog) -> None:
    build_zenodo_world(replay)
    s = crawl_zenodo(settings_for(tmp_path, replay), catalog, dry_run=True, time_scale=60, retry=FAST)
    assert s.seen == 14 and s.files_downloaded == 0 and snapshot(catalog) == []
    assert CrawlStore(catalog.db).list_rejected(10, 0)[1] == 0


def _cli(tmp: Path, replay: Replay) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TESSERA_DATA_DIR": str(tmp),
        "TESSERA_ZENODO_URL": replay.base,
        "TESSERA_IA_URL": replay.base,
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tessera.cli",
            "crawl",
            "zenodo",
            "--json",
            "--time-scale",
            "60",
            "--page-size",
            "3",
        ],
        env=env,
        cwd=str(REPO),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _open(tmp: Path) -> Catalog:
    from tessera.core.db import Database

    return Catalog(Database(f"sqlite:///{(tmp / 'catalog.sqlite').resolve()}"), OPERATOR)


def _catalogue_state(root: Path) -> dict[str, Any]:
    """Everything a crawl leaves behind, with ids, timestamps and the data dir taken out."""
    skip = {"id", "record_id", "created_at", "updated_at", "seen_at", "indexed_at", "duplicate_of"}

    def plain(row: Any) -> dict[str, Any]:
        out = {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in skip}
        if out.get("path"):
            out["path"] = str(Path(out["path"]).relative_to(root.resolve()))
        return out

    cat = _open(root)
    with cat.db.session() as s:
        records = {r.id: r.identifier for r in s.scalars(select(SourceRecord))}
        state = {
            "records": sorted((plain(r) for r in s.scalars(select(SourceRecord))), key=repr),
            "files": sorted(
                ({**plain(f), "record": records[f.record_id]} for f in s.scalars(select(AudioFile))), key=repr
            ),
            "rejected": sorted((plain(r) for r in s.scalars(select(RejectedRecord))), key=repr),
            "crawl_state": sorted((c.key, c.state) for c in s.scalars(select(CrawlState))),
        }
    state["cache"] = sorted(
        (str(x.relative_to(root)), hashlib.md5(x.read_bytes()).hexdigest())
        for x in (root / "cache").rglob("*")
        if x.is_file()
    )
    return state


def test_killed_crawl_resumes_to_the_same_catalogue(tmp_path: Path, replay: Replay) -> None:
    build_zenodo_world(replay)
    replay.blob_delay = 0.15
    ref = tmp_path / "ref"
    p = _cli(ref, replay)
    assert p.wait(timeout=60) == 0, p.stderr.read().decode()[-2000:]
    ref_downloads = len([r for r in replay.requests() if "/files" in r[1]])
    expected = _catalogue_state(ref)
    assert len(expected["files"]) == 6 and len(expected["rejected"]) >= 10

    run = tmp_path / "run"
    for target in (2, 3):  # kill -9 twice, at different points of the run
        replay.log.clear()
        p = _cli(run, replay)
        deadline = time.monotonic() + 30
        while (
            len([r for r in replay.requests() if "/files" in r[1]]) < target and time.monotonic() < deadline
        ):
            time.sleep(0.02)
        assert len([r for r in replay.requests() if "/files" in r[1]]) >= target, "the crawl never got going"
        assert p.poll() is None, "the crawl finished before it could be killed"
        os.kill(p.pid, signal.SIGKILL)
        assert p.wait(timeout=30) == -signal.SIGKILL  # it died of the kill, not of anything else
        assert p.stdout is not None and b'"seen"' not in p.stdout.read()  # no summary: killed mid-run
        # what a killed run leaves is part of the final catalogue, never something else
        partial = _catalogue_state(run)
        assert len([r for r in replay.requests() if "/files" in r[1]]) < ref_downloads
        assert all(f in expected["files"] for f in partial["files"] if f["consent_state"] == "active")
        assert len(partial["files"]) < len(expected["files"]) or partial["crawl_state"] != expected["crawl_state"]
    p = _cli(run, replay)
    assert p.wait(timeout=60) == 0, p.stderr.read().decode()[-2000:]
    got = _catalogue_state(run)
    for part in ("records", "files", "rejected", "crawl_state", "cache"):
        assert got[part] == expected[part], part
    assert snapshot(_open(run)) == snapshot(_open(ref))
    assert FIXTURES.exists()


def test_opt_out_blocks_a_recrawl(tmp_path: Path, replay: Replay, catalog: Catalog) -> None:
    """An uploader who opted out after a first crawl is not harvested again; others still are."""
    build_ia_world(replay)
    st = settings_for(tmp_path, replay)
    first = crawl_ia(st, catalog, time_scale=50, page_size=3, retry=FAST)
    assert first.harvested == 2
    consent_service(catalog.db, st).add_opt_out("ia_uploader", "Norbtek.Info@gmail.com ", "asked by the uploader",
                                                "moderator")
    # the second item is a copy of test2's metadata: give it another uploader so selectivity shows
    replay.docs["/metadata/lossless-item"]["metadata"]["uploader"] = "someone.else@example.org"
    # forget where the first crawl got to, as a full re-crawl would
    CrawlStore(catalog.db).set_crawl_state("internet_archive", 'internet_archive:{"collection": "", "q": ""}', {})
    again = crawl_ia(st, catalog, time_scale=50, page_size=3, retry=FAST)
    assert again.rejected["opted_out"] == 1
    rejected = CrawlStore(catalog.db).list_rejected(50, 0, reason="opted_out")[0]
    assert [r.identifier for r in rejected] == ["test2"]
    # what the first crawl took in is taken out of search too
    states = {r[1]: r[7] for r in snapshot(catalog)}
    assert states["test2"] == "withdrawn" and states["lossless-item"] == "active"
