"""Crawler takedowns follow the consent path, and a re-crawl never fetches withdrawn files again.

Against the replay server of tests/crawlers (recorded Internet Archive answers, real audio blobs),
on a real SQLite file and the real local PostgreSQL.
"""

from pathlib import Path

from tessera.catalog.models import AudioFile
from tessera.catalog.store import Catalog
from tessera.catalog.visibility import OPERATOR
from tessera.cli.crawl import crawl_ia
from tessera.compose import consent_service
from tessera.crawlers.store import CrawlStore
from tessera.datasets.store import DatasetStore, MemberIn
from tessera.indexer.preview import make_preview, preview_path
from tests.crawlers.conftest import FAST, Replay, build_ia_world, replay, settings_for  # noqa: F401

STATE_KEY = 'internet_archive:{"collection": "", "q": ""}'


def _files(catalog: Catalog) -> dict[str, AudioFile]:
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    with catalog.db.session() as s:
        rows = s.scalars(select(AudioFile).options(selectinload(AudioFile.record))).all()
        return {f"{r.record.identifier}/{r.filename}": r for r in rows}


def test_takedowns_purge_like_a_withdrawal_and_recrawls_skip_withdrawn(
        tmp_path: Path, replay: Replay, catalog: Catalog) -> None:  # noqa: F811
    build_ia_world(replay)
    st = settings_for(tmp_path, replay)
    st.ensure_dirs()
    first = crawl_ia(st, catalog, time_scale=50, page_size=3, retry=FAST)
    assert first.harvested == 2
    files = _files(catalog)
    opted = files["test2/AudacityTest003.mp3"]
    kept = files["lossless-item/take.flac"]
    assert opted.path and Path(opted.path).is_file() and kept.path and Path(kept.path).is_file()
    datasets = DatasetStore(catalog.db, OPERATOR)
    d = datasets.create("Both", [MemberIn(opted.id), MemberIn(kept.id)], created_by="tester")
    preview = preview_path(st.previews_dir, opted.id)
    make_preview(Path(opted.path), preview)
    assert preview.is_file()

    # an opt-out, then a full re-crawl: the takedown goes through tessera.consent
    consent_service(catalog.db, st).add_opt_out("ia_uploader", "Norbtek.Info@gmail.com", "asked", "moderator")
    replay.docs["/metadata/lossless-item"]["metadata"]["uploader"] = "someone.else@example.org"
    CrawlStore(catalog.db).set_crawl_state("internet_archive", STATE_KEY, {})
    again = crawl_ia(st, catalog, time_scale=50, page_size=3, retry=FAST)
    assert again.rejected["opted_out"] == 1 and again.files_taken_down == 1
    assert not Path(opted.path).exists(), "the cached download is deleted"
    assert not preview.exists(), "the derived preview is deleted"
    assert _files(catalog)["test2/AudacityTest003.mp3"].path is None
    v = datasets.version(d.id)
    assert v.version == 2 and [m.file_id for m in v.members] == [kept.id]
    assert (v.origin or {})["kind"] == "withdrawal" and "opted_out" in (v.origin or {})["reason"]
    ev = [e for e in consent_service(catalog.db, st).events() if opted.id in (e.file_ids or [])]
    assert ev and ev[-1].actor == "crawler" and ev[-1].action == "withdraw"

    # a rights holder withdraws the other file; the next crawls must not download it into the cache again
    consent_service(catalog.db, st).withdraw("file", str(kept.id), "u-moderator", "rights holder asked")
    assert not Path(kept.path).exists()
    for _ in range(2):
        before = len(replay.requests("/download/lossless-item/"))
        CrawlStore(catalog.db).set_crawl_state("internet_archive", STATE_KEY, {})
        s = crawl_ia(st, catalog, time_scale=50, page_size=3, retry=FAST)
        assert s.errors == 0 and s.files_skipped_withdrawn == 1 and s.files_added == 0
        assert len(replay.requests("/download/lossless-item/")) == before, "not fetched again"
        assert not Path(kept.path).exists()
        row = next(f for f in _files(catalog).values() if f.id == kept.id)
        # scrubbed down to the audit trail: no file name, path or title left
        assert row.consent_state == "withdrawn" and row.path is None and row.filename == "(withdrawn)"
        assert "lossless-item" not in {r.identifier for r in CrawlStore(catalog.db).list_rejected(50, 0)[0]}
