"""Every registered source module, run against its recorded fixtures, keeps the crawler contract.

As mirdata tests each dataset loader with its own test resources, each module in
``tessera.crawlers.sources`` is paired here with a world built from its recorded answers (served by the
real replay HTTP server in conftest.py; the folder source gets real files on disk). A source module
without a world fails ``test_every_source_has_recorded_fixtures`` and every contract test below.
Nothing of Tessera is faked: the sources, the harvest loop, the harvester and the catalogue all run.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from tessera.catalog.models import AudioFile, SourceRecord
from tessera.catalog.store import Catalog
from tessera.core import licences
from tessera.crawlers import sources
from tessera.crawlers.archives import is_audio_name
from tessera.crawlers.harvest import crawl
from tessera.crawlers.http import (
    IA_LIMIT,
    ZENODO_GUEST,
    ZENODO_SEARCH,
    PoliteClient,
    SlidingWindowLimiter,
    scaled,
)
from tessera.crawlers.intake import Harvester
from tessera.crawlers.sources.base import Listed, Rejection, Source, SourceFile
from tessera.crawlers.sources.folder import FolderSource
from tessera.crawlers.sources.internet_archive import IASource
from tessera.crawlers.sources.zenodo import ZenodoSource
from tessera.crawlers.store import CrawlStore
from tessera.crawlers.summary import CrawlSummary, HarvestOptions

from .conftest import FAST, Replay, audio_bytes, build_ia_world, build_zenodo_world, load

SOURCE_NAMES = sources.names()


@dataclass
class World:
    """A source instance over its recorded answers, and what the contract test may do to them."""

    source: Source
    listed: list[str]  # identifiers the listing yields, in order
    licences: list[tuple[str | None, str]]  # a raw licence -> its SPDX id, or the rejection reason
    spoil: Callable[[SourceFile], None]  # from now on, this file's bytes disagree with its md5
    malform: Callable[[], str] | None  # add a malformed record (None: the source has no record format)
    throttle: Callable[[], str] | None  # next listing request answers 429 + Retry-After (None: no network)


def _flip_blob(replay: Replay) -> Callable[[SourceFile], None]:
    def spoil(sf: SourceFile) -> None:
        path = urlsplit(sf.url).path
        data = replay.blobs[path]
        replay.blobs[path] = bytes([data[0] ^ 0xFF]) + data[1:]  # same length: only the md5 can tell

    return spoil


def _zenodo(replay: Replay, tmp: Path) -> Iterator[World]:
    build_zenodo_world(replay)
    client = PoliteClient("Tessera-contract", SlidingWindowLimiter(scaled(ZENODO_GUEST, 0.9, 60)), FAST)
    search = SlidingWindowLimiter(scaled(ZENODO_SEARCH, 0.9, 60))

    def malform() -> str:
        bad = copy.deepcopy(replay.zenodo_records[0])
        bad.update(id=9100001, conceptrecid="9100501", updated="2024-02-01T10:00:00+00:00")
        bad["metadata"] = ["not", "an", "object"]  # recorded shape, one field of the wrong type
        replay.docs["/api/records/9100001"] = bad
        replay.zenodo_records.append(bad)
        return "9100001"

    def throttle() -> str:
        replay.fault("/api/records", "429")
        return "/api/records"

    with client:
        yield World(
            ZenodoSource(client, search, replay.base, page_size=4),
            [str(r["id"]) for r in replay.zenodo_records],
            [("cc-zero", "CC0-1.0"), ("CC-BY-4.0", "CC-BY-4.0"), ("cc-by-nc-4.0", "CC-BY-NC-4.0"),
             ("other-closed", "licence_not_open"), (None, "no_licence")],
            _flip_blob(replay),
            malform,
            throttle,
        )


def _internet_archive(replay: Replay, tmp: Path) -> Iterator[World]:
    build_ia_world(replay)
    client = PoliteClient("Tessera-contract", SlidingWindowLimiter(scaled(IA_LIMIT, 1.0, 50)), FAST)

    def malform() -> str:
        bad = copy.deepcopy(load("internet_archive/ia_metadata_test2_audio_opensource_podcast_ccby20.json"))
        bad["metadata"]["identifier"] = "broken-item"
        bad["files"] = "not a list"
        replay.docs["/metadata/broken-item"] = bad
        replay.ia_items.append({"identifier": "broken-item", "updated": "2024-01-01T00:00:00Z"})
        return "broken-item"

    def throttle() -> str:
        replay.fault("/services/search/v1/scrape", "429")
        return "/services/search/v1/scrape"

    with client:
        yield World(
            IASource(client, replay.base, page_size=3),
            [i["identifier"] for i in replay.ia_items],
            [("http://creativecommons.org/licenses/by/2.0/", "CC-BY-2.0"),
             ("https://creativecommons.org/publicdomain/zero/1.0/", "CC0-1.0"), ("", "no_licence"),
             ("all rights reserved", "licence_not_open")],
            _flip_blob(replay),
            malform,
            throttle,
        )


def _folder(replay: Replay, tmp: Path) -> Iterator[World]:
    root = tmp / "field-recordings"
    (root / "day1").mkdir(parents=True)
    (root / "day1" / "birds.wav").write_bytes(audio_bytes("WAV", freq=440))
    (root / "rain.flac").write_bytes(audio_bytes("FLAC", freq=660))
    (root / "notes.txt").write_text("not audio")

    def spoil(sf: SourceFile) -> None:
        path = Path(urlsplit(sf.url).path)
        data = path.read_bytes()
        path.write_bytes(bytes([data[0] ^ 0xFF]) + data[1:])  # changed on disk after it was listed

    yield World(
        FolderSource(root, "CC-BY-4.0", "A. Recordist"),
        [str(root.resolve())],
        [("CC0-1.0", "CC0-1.0"), ("https://creativecommons.org/licenses/by-sa/4.0/", "CC-BY-SA-4.0"),
         ("all rights reserved", "licence_not_open"), (None, "no_licence")],
        spoil,
        None,  # one folder, no record format to malform
        None,  # no network edge
    )


# one entry per source module: a module added without one fails the contract tests
WORLDS: dict[str, Callable[[Replay, Path], Iterator[World]]] = {
    "zenodo": _zenodo,
    "internet_archive": _internet_archive,
    "folder": _folder,
}


@pytest.fixture
def world(request: pytest.FixtureRequest, replay: Replay, tmp_path: Path) -> Iterator[World]:
    name = request.param
    if name not in WORLDS:
        pytest.fail(f"source module {name!r} has no recorded fixtures in test_source_contract.WORLDS")
    yield from WORLDS[name](replay, tmp_path)


def _harvester(catalog: Catalog, source: Source, tmp: Path) -> Harvester:
    opts = HarvestOptions(cache_dir=tmp / "cache", max_file_bytes=50 << 20)
    return Harvester(catalog, source, opts, CrawlSummary(source=source.kind))


def _by_source(param: str = "world") -> pytest.MarkDecorator:
    return pytest.mark.parametrize(param, SOURCE_NAMES, indirect=True)


def test_every_source_has_recorded_fixtures() -> None:
    assert {"folder", "internet_archive", "zenodo"} <= set(SOURCE_NAMES)
    missing = [n for n in SOURCE_NAMES if n not in WORLDS]
    assert not missing, f"source modules without recorded fixtures: {missing}"
    for name in SOURCE_NAMES:
        assert sources.source_class(name).kind  # each module's SOURCE is a Source with a kind


@_by_source()
def test_lists_its_records_and_then_only_what_changed(world: World, catalog: Catalog, tmp_path: Path) -> None:
    src = world.source
    state: dict[str, Any] = {}
    listed = []
    for entry in src.list_records(state, None):
        listed.append(entry.identifier)
        state.update(entry.checkpoint)
    assert listed == world.listed
    # with the state a finished listing leaves, only the records at its boundary come again
    again = [e.identifier for e in src.list_records(state, None)]
    assert len(again) < len(listed) and set(again) <= set(listed)


@_by_source()
def test_licences_map_to_spdx_or_a_rejection_with_its_reason(
    world: World, catalog: Catalog, tmp_path: Path
) -> None:
    src = world.source
    for raw, expected in world.licences:
        got = src.map_licence(raw)
        if isinstance(got, Rejection):
            assert (got.reason, bool(got.detail)) == (expected, True), raw
        else:
            assert got.spdx == expected and licences.licence_for_spdx(got.spdx).spdx == expected, raw
    harvester = _harvester(catalog, src, tmp_path)
    crawl(src, harvester)
    assert harvester.summary.seen == len(world.listed) and harvester.summary.errors == 0
    # every listed record is either in the catalogue under the SPDX id its source maps it to, or rejected
    # with a reason (per record or, when no file could be taken, per file)
    with catalog.db.session() as s:
        held = {r.identifier: r.licence_spdx for r in s.scalars(select(SourceRecord))}
    rows = CrawlStore(catalog.db).list_rejected(1000, 0, kind=src.kind)[0]
    rejected = {r.identifier: r.reason for r in rows if not r.filename}
    for ident in world.listed:
        assert (ident in held) != (ident in rejected), ident
        if ident in held:
            lic = src.map_licence(src.record(Listed(ident)).licence)
            assert not isinstance(lic, Rejection) and held[ident] == lic.spdx
        else:
            assert rejected[ident]
    assert held


@_by_source()
def test_files_are_fetched_with_their_md5_verified(world: World, catalog: Catalog, tmp_path: Path) -> None:
    src = world.source
    harvester = _harvester(catalog, src, tmp_path)
    crawl(src, harvester)
    with catalog.db.session() as s:
        files = list(s.scalars(select(AudioFile)))
    assert files and harvester.summary.files_added == len(files)
    for f in files:  # what the catalogue says is what is on disk
        assert f.path and hashlib.md5(Path(f.path).read_bytes()).hexdigest() == f.md5
    # a file whose bytes no longer match the md5 its source gives is refused, not taken in
    item = next(
        i for i in (src.record(Listed(x)) for x in world.listed)
        if any(sf.md5 and is_audio_name(sf.filename) for sf in i.files)
        and not isinstance(src.map_licence(i.licence), Rejection) and not i.rejection
    )
    target = next(sf for sf in item.files if sf.md5 and is_audio_name(sf.filename))
    world.spoil(target)
    for sf in item.files:  # the cached copy must not stand in for the source
        for p in (tmp_path / "cache").rglob(Path(sf.filename).name):
            p.unlink()
    again = _harvester(catalog, src, tmp_path)
    again.harvest(item)
    assert again.summary.files_rejected["checksum_mismatch"] == 1 and again.summary.files_added == 0
    # fetched again before it was refused: a damaged transfer is not a bad file
    assert again.summary.retries == again.options.checksum_attempts - 1
    reasons = {(r.filename, r.reason) for r in CrawlStore(catalog.db).list_rejected(1000, 0, kind=src.kind)[0]}
    assert (target.filename, "checksum_mismatch") in reasons
    assert not list((tmp_path / "cache").rglob(Path(target.filename).name))


@_by_source()
def test_a_429_with_retry_after_is_honoured(world: World, catalog: Catalog, tmp_path: Path, replay: Replay) -> None:
    if world.throttle is None:
        pytest.skip("a local source: no network edge to rate-limit it")
    path = world.throttle()
    harvester = _harvester(catalog, world.source, tmp_path)
    crawl(world.source, harvester)
    hits = [r for r in replay.requests(path) if r[1] == path]
    assert [r[3] for r in hits[:2]] == [429, 200]
    assert hits[1][0] - hits[0][0] >= 0.95  # the replay asked for Retry-After: 1
    assert harvester.summary.errors == 0 and harvester.summary.seen == len(world.listed)


@_by_source()
def test_a_malformed_record_is_reported_and_skipped(world: World, catalog: Catalog, tmp_path: Path) -> None:
    if world.malform is None:
        pytest.skip("the source has no record format that could be malformed")
    bad = world.malform()
    harvester = _harvester(catalog, world.source, tmp_path)
    crawl(world.source, harvester)
    s = harvester.summary
    assert s.rejected["malformed_record"] == 1 and s.errors == 0
    assert s.seen == len(world.listed) + 1 and s.harvested >= 1  # the others still came in
    rows = CrawlStore(catalog.db).list_rejected(10, 0, reason="malformed_record")[0]
    assert [(r.identifier, r.kind) for r in rows] == [(bad, world.source.kind)]
    assert CrawlStore(catalog.db).get_crawl_state(world.source.state_key()).get("failed") == []  # not retried


@_by_source()
def test_a_record_gone_from_the_source_is_reported_and_not_retried(
    world: World, catalog: Catalog, tmp_path: Path
) -> None:
    src = world.source
    # a record that failed last time and has since disappeared at the source
    CrawlStore(catalog.db).set_crawl_state(src.kind, src.state_key(), {"failed": ["gone-at-the-source"]})
    harvester = _harvester(catalog, src, tmp_path)
    crawl(src, harvester)
    assert harvester.summary.rejected["not_found"] >= 1 and harvester.summary.errors == 0
    gone = CrawlStore(catalog.db).list_rejected(50, 0, reason="not_found")[0]
    assert "gone-at-the-source" in {r.identifier for r in gone}
    assert CrawlStore(catalog.db).get_crawl_state(src.state_key())["failed"] == []
