"""Withdrawn means withdrawn: after the purge a withdrawn or lapsed file keeps only its audit trail
(id, md5, record, consent history), on SQLite and PostgreSQL; a crawler takedown, which a licence that
opens again may undo, keeps its row whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from tessera.catalog.models import AudioFile
from tessera.catalog.store import Catalog, FileIn, RecordIn
from tessera.consent.service import ConsentService
from tessera.consent.store import WITHDRAWN_TITLE
from tessera.core.db import Database


def _fts_rows(db: Database, file_id: int) -> int:
    with db.session() as s:
        if s.get_bind().dialect.name == "sqlite":
            return int(s.execute(text("SELECT count(*) FROM item_fts WHERE rowid = :i"), {"i": file_id}).scalar_one())
        return int(s.execute(text("SELECT count(*) FROM item_search WHERE file_id = :i"),
                             {"i": file_id}).scalar_one())


def _row(db: Database, file_id: int) -> AudioFile:
    with db.session() as s:
        row = s.get(AudioFile, file_id)
        assert row is not None
        s.expunge(row)
        return row


def test_withdrawn_and_lapsed_rows_keep_only_the_audit_trail(db: Database, catalog: Catalog,
                                                              consent: ConsentService) -> None:
    rec = catalog.upsert_record(RecordIn("folder", "/home/ana/lullabies", "Lullabies", "CC-BY-4.0", creator="Ana"))
    ids = {}
    for n, name in enumerate(("grandmother", "harvest", "river")):
        ids[name] = catalog.add_file(rec, FileIn(f"{name}.wav", f"{n:032x}", 10, title=f"{name} lullaby",
                                                 creator=f"{name} singer", path=f"/home/ana/lullabies/{name}.wav",
                                                 url=f"https://example.org/{name}.wav"))[0]
    assert all(_fts_rows(db, i) == 1 for i in ids.values())
    w = consent.withdraw("file", str(ids["grandmother"]), "ana", "the family asked")
    assert not w.pending
    soon = datetime.now(UTC) + timedelta(minutes=5)
    consent.set_period("file", str(ids["harvest"]), soon, "ana", "for a season")
    assert not consent.sweep(at=soon + timedelta(minutes=1)).pending
    for name in ("grandmother", "harvest"):
        row = _row(db, ids[name])
        assert (row.title, row.creator, row.filename, row.path, row.url) == (
            WITHDRAWN_TITLE, None, WITHDRAWN_TITLE, None, None), name
        assert name not in row.attribution
        assert row.md5 == f"{list(ids).index(name):032x}" and row.consent_state == "withdrawn"
        assert _fts_rows(db, ids[name]) == 0
        assert any(ids[name] in (e.file_ids or []) for e in consent.events())  # the trail stays
    kept = _row(db, ids["river"])
    assert kept.title == "river lullaby" and _fts_rows(db, ids["river"]) == 1


def test_a_crawler_takedown_keeps_the_row_for_a_restore(db: Database, catalog: Catalog,
                                                         consent: ConsentService) -> None:
    rec = catalog.upsert_record(RecordIn("zenodo", "77", "Drums", "CC-BY-NC-4.0", creator="Ben"))
    fid = catalog.add_file(rec, FileIn("kick.wav", "f" * 32, 10, title="kick", url="https://example.org/kick.wav"))[0]
    consent.take_down_record(rec, "licence changed: CC-BY-ND-4.0")
    row = _row(db, fid)
    assert row.consent_state == "withdrawn" and row.title == "kick" and row.url == "https://example.org/kick.wav"
