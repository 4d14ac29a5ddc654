"""Filters and full-text search on a real SQLite file and the real PostgreSQL."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from tessera.catalog.store import Catalog, FileIn, RecordIn
from tessera.catalog.visibility import OPERATOR
from tessera.consent.service import ConsentService
from tessera.core.errors import InvalidInput
from tessera.indexer.store import FeaturesOut, IndexStore
from tessera.search.filters import Filters
from tessera.search.store import SearchStore


def _features(bpm: float, conf: float, key: str, scale: str, tuning: float, flags: list[str],
              duration: float) -> FeaturesOut:
    feats = {"bpm": bpm, "bpm_confidence": conf, "key": key, "scale": scale, "tuning_deviation_cents": tuning}
    return FeaturesOut(extractor_version="t1", duration=duration, sample_rate=44100, channels=2, features=feats,
                       quality={"flags": flags}, vector=np.zeros(4, np.float32))


@pytest.fixture
def filled(catalog: Catalog) -> dict[str, int]:
    r1 = catalog.upsert_record(RecordIn("zenodo", "10.5281/zenodo.1", "Field recordings of the harbour",
                                        "CC-BY-SA-4.0", creator="Ada Lovelace",
                                        description="Gulls and foghorns recorded at dawn", keywords=["maritime"]))
    r2 = catalog.upsert_record(RecordIn("folder", "/drums", "Drum machine kit", "CC-BY-NC-4.0",
                                        creator="Grace Hopper", description="Kicks and snares"))
    r3 = catalog.upsert_record(RecordIn("internet_archive", "gamelan", "Gamelan tuning studies", "CC-BY-ND-4.0",
                                        creator="Ki Narto", keywords=["pelog", "slendro"]))
    ids = {}
    for name, rec, md5, bpm, conf, key, scale, tun, flags in [
        ("foghorn", r1, "a" * 32, 60.0, 0.9, "C", "major", 2.0, []),
        ("gulls", r1, "b" * 32, 95.0, 0.2, "E", "minor", -5.0, ["noisy"]),
        ("kick", r2, "c" * 32, 120.0, 0.95, "A", "minor", 0.0, ["clipped"]),
        ("snare", r2, "d" * 32, 128.0, 0.8, "A", "minor", 1.0, []),
        ("pelog scale", r3, "e" * 32, 70.0, 0.5, "D", "major", 38.0, ["mostly_silent"]),
    ]:
        fid, _ = catalog.add_file(rec, FileIn(f"{name}.wav", md5, 1000, url=f"http://x/{name}.wav"))
        IndexStore(catalog.db).save_features(
            fid, _features(bpm, conf, key, scale, tun, flags, 0.5 if name == "kick" else 5.0))
        ids[name] = fid
    return ids


def _names(store: SearchStore, ids: dict[str, int], flt: Filters) -> set[str]:
    by_id = {v: k for k, v in ids.items()}
    return {by_id[i] for i in store.matching_ids(flt)}


def test_filters(catalog: Catalog, filled: dict[str, int]) -> None:
    st = SearchStore(catalog.db, OPERATOR)
    assert _names(st, filled, Filters()) == set(filled)
    assert _names(st, filled, Filters(licence_class="open")) == {"foghorn", "gulls"}
    assert _names(st, filled, Filters(licence_class="commercial")) == {"foghorn", "gulls", "pelog scale"}
    assert _names(st, filled, Filters(licence_class="derivatives")) == {"foghorn", "gulls", "kick", "snare"}
    assert _names(st, filled, Filters(source="folder")) == {"kick", "snare"}
    assert _names(st, filled, Filters(creator="hopper")) == {"kick", "snare"}
    assert _names(st, filled, Filters(duration_max=1.0)) == {"kick"}
    assert _names(st, filled, Filters(bpm_min=90, bpm_max=125)) == {"gulls", "kick"}
    assert _names(st, filled, Filters(bpm_min=90, bpm_max=125, bpm_confidence_min=0.5)) == {"kick"}
    assert _names(st, filled, Filters(key="A", scale="minor")) == {"kick", "snare"}
    assert _names(st, filled, Filters(tuning_min=20)) == {"pelog scale"}
    assert _names(st, filled, Filters(exclude_flag=["clipped", "noisy", "mostly_silent"])) == {
        "foghorn", "snare"}
    # text over title, creator, record description and keywords; prefixes; several words all match
    assert _names(st, filled, Filters(q="foghorn")) == {"foghorn", "gulls"}  # record description
    assert _names(st, filled, Filters(q="slendro")) == {"pelog scale"}  # keyword
    assert _names(st, filled, Filters(q="nart pelog")) == {"pelog scale"}
    assert _names(st, filled, Filters(q="kick OR snare\" *")) == set()  # no query syntax injection
    # combined
    assert _names(st, filled, Filters(q="drum", exclude_flag=["clipped"])) == {"snare"}
    rows, total = st.browse(Filters(licence_class="open"), limit=1, offset=1)
    assert total == 2 and [r.title for r in rows] == ["gulls.wav"]


def test_text_follows_updates_and_consent(catalog: Catalog, consent: ConsentService, filled: dict[str, int]) -> None:
    st = SearchStore(catalog.db, OPERATOR)
    catalog.upsert_record(RecordIn("folder", "/drums", "Drum machine kit", "CC-BY-NC-4.0",
                                   creator="Grace Hopper", description="Electronic percussion"))
    assert _names(st, filled, Filters(q="percussion")) == {"kick", "snare"}
    assert _names(st, filled, Filters(q="snares")) == set()
    consent.withdraw("file", str(filled["kick"]), actor="t", reason="t")
    assert _names(st, filled, Filters(q="percussion")) == {"snare"}


def test_bad_filters(catalog: Catalog) -> None:
    # the grammar refuses bad values when the filters are built, naming the field
    for bad, name in ((dict(licence_class="free"), "licence_class"), (dict(exclude_flag=["loud"]), "exclude_flag"),
                      (dict(key="H"), "key"), (dict(bpm_min=130, bpm_max=100), "bpm_min"), (dict(nope=1), "nope")):
        with pytest.raises(ValidationError, match=name):
            Filters(**bad)
    st = SearchStore(catalog.db, OPERATOR)
    with pytest.raises(InvalidInput):
        st.matching_ids(Filters(q="!!!"))
