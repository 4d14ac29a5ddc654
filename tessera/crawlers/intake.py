"""Taking one record in: licence and opt-out rules, versions, files fetched into the catalogue.

``Harvester.harvest`` is idempotent, so a killed crawl can simply be run again: records and files are
upserted (records by (kind, identifier), files by (record, md5)), downloads land under a temp name and
are renamed into place, and a record is marked complete (``extra["harvested_from"]``) only after all
its files are in.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tessera.catalog.store import Catalog, RecordIn
from tessera.consent.service import ConsentService
from tessera.crawlers.archives import RejectedMember, is_archive_name, is_audio_name
from tessera.crawlers.errors import CrawlError, FetchError
from tessera.crawlers.files import Fetched, FileFetcher, safe_part
from tessera.crawlers.sources.base import LICENCE_NOT_OPEN, NO_LICENCE, Rejection, Source, SourceItem
from tessera.crawlers.store import CrawlStore
from tessera.crawlers.summary import CrawlSummary, HarvestOptions

# Rejection reasons (stable codes, shown by `tessera rejected` and GET /api/rejected)
OPTED_OUT = "opted_out"
NO_AUDIO = "no_audio"
# withdrawals a licence that is open again may undo (never consent, opt-outs or files gone at the source)
LICENCE_WITHDRAWALS = (f"{NO_LICENCE}:", f"{LICENCE_NOT_OPEN}:")
CONCEPT_KEY = "concept"

Progress = Callable[[str], None]


class Harvester:
    def __init__(
        self,
        catalog: Catalog,
        source: Source,
        options: HarvestOptions,
        summary: CrawlSummary,
        progress: Progress | None = None,
    ) -> None:
        self.catalog = catalog
        self.crawl_store = CrawlStore(catalog.db)
        # takedowns, restores and opt-outs go through the consent service; without one, a service over the
        # catalogue and the cache alone (no index or dataset to reach)
        self.consent = options.consent or ConsentService(catalog.db, options.cache_dir.parent, options.cache_dir)
        self.source = source
        self.options = options
        self.summary = summary
        self.progress = progress
        self.fetcher = FileFetcher(source, options, summary)

    # -- helpers -------------------------------------------------------------------------
    def _reject(self, item: SourceItem, reason: str, detail: str, url: str | None = None) -> None:
        self.summary.rejected[reason] += 1
        if self.options.dry_run:
            return
        self.crawl_store.clear_rejected(item.kind, item.identifier)
        self.crawl_store.record_rejected(item.kind, item.identifier, reason, detail, url=url or item.page_url)
        rec = self.crawl_store.find_record(item.kind, item.identifier)
        if rec is not None:
            # e.g. a licence that stopped being open: take what we had out of search
            self.summary.files_taken_down += self._take_down(
                rec.id, f"{reason}: {detail}"
            )

    def _take_down(self, record_id: int, reason: str, keep_md5s: set[str] | None = None) -> int:
        """Take a record's files out through the consent service, so that vectors, cached audio and
        previews go and datasets get a new version, as for a withdrawal."""
        return len(self.consent.take_down_record(record_id, reason, keep_md5s).file_ids)

    def error(self, kind: str, identifier: str, exc: Exception) -> None:
        self.summary.errors += 1
        self.summary.error_details.append({"kind": kind, "identifier": identifier, "error": str(exc)})

    def _opted_out(self, item: SourceItem) -> str | None:
        creators = [c.strip() for c in (item.creator or "").split(";") if c.strip()]
        return self.consent.opted_out(
            creator=creators, orcid=item.extra.get("orcids") or [], ia_uploader=item.extra.get("uploader"),
            zenodo_community=item.extra.get("communities") or [])

    def _follow_versions(self, item: SourceItem) -> bool:
        """One catalogue record per work. False if ``item`` is older than the version we hold.

        A newer version takes over the record of the older one (re-keyed, so files with the same bytes
        keep their ids, features and consent; files the new version dropped leave search when it is
        harvested). Records of still older versions (from before this rule) leave search.
        """
        if not item.concept:
            return True
        mine = item.version_key if item.version_key is not None else -1
        others = [
            r for r in self.crawl_store.find_records_by_extra(item.kind, CONCEPT_KEY, item.concept)
            if r.identifier != item.identifier
        ]
        if not others:
            return True
        newest = max(others, key=lambda r: (int(r.extra.get("version_key") or -1), r.id))
        if int(newest.extra.get("version_key") or -1) > mine:
            self.summary.superseded += 1
            return False
        if self.options.dry_run:
            return True
        if self.crawl_store.find_record(item.kind, item.identifier) is None:
            self.crawl_store.rekey_record(newest.id, item.identifier)
            others.remove(newest)
        for old in others:
            self.summary.files_taken_down += self._take_down(
                old.id, f"superseded: version {item.identifier} replaces {old.identifier}"
            )
        return True

    # -- the work ------------------------------------------------------------------------
    def harvest(self, item: SourceItem) -> str:
        """Take one item in. Returns harvested | unchanged | rejected | superseded | error."""
        self.summary.seen += 1
        if self.progress:
            self.progress(f"{item.kind} {item.identifier}")
        if not self._follow_versions(item):
            return "superseded"
        if item.rejection:
            self._reject(item, *item.rejection)
            return "rejected"
        opted = self._opted_out(item)
        if opted:
            self._reject(item, OPTED_OUT, f"the opt-out registry lists {opted}")
            return "rejected"
        lic = self.source.map_licence(item.licence)
        if isinstance(lic, Rejection):
            self._reject(item, *lic)
            return "rejected"
        wanted = [f for f in item.files if is_audio_name(f.filename) or is_archive_name(f.filename)]
        if not wanted:
            names = ", ".join(f.filename for f in item.files[:5]) or "no files"
            self._reject(item, NO_AUDIO, f"no audio files or archives ({names})")
            return "rejected"
        if self.options.dry_run:
            self.summary.harvested += 1
            return "harvested"

        fingerprint = {f.filename: f.md5 or f"size:{f.size}" for f in wanted}
        existing = self.crawl_store.find_record(item.kind, item.identifier)
        if (
            existing is not None
            and existing.extra.get("harvested_from") == fingerprint
            and existing.source_updated == item.source_updated
            and existing.licence_spdx == lic.spdx
            and self.crawl_store.record_files_present(existing.id)
        ):
            self.summary.harvested += 1
            self.summary.unchanged += 1
            return "unchanged"

        self.crawl_store.clear_rejected(item.kind, item.identifier)
        record_in = RecordIn(
            kind=item.kind,
            identifier=item.identifier,
            title=item.title or item.identifier,
            licence=str(item.licence),  # normalised again by the catalogue, keeping a ported deed's URL
            creator=item.creator,
            description=item.description,
            keywords=item.keywords,
            doi=item.doi,
            page_url=item.page_url,
            version=item.version,
            source_updated=item.source_updated,
            extra={k: v for k, v in item.extra.items() if k != "harvested_from"},
        )
        if item.concept:
            record_in.extra.update({CONCEPT_KEY: item.concept, "version_key": item.version_key})
        record_id: int | None = None
        added: list[str] = []
        file_rejections: list[str] = []
        failed = False
        base = self.options.cache_dir / item.kind / safe_part(item.identifier)
        # files withdrawn here stay out: never downloaded into the cache again (only their owner brings them back)
        blocked = self.consent.blocked_files(existing.id, LICENCE_WITHDRAWALS) if existing is not None else []
        blocked_md5s = {m for m, _ in blocked}
        blocked_names = {n for _, n in blocked}
        for sf in wanted:
            if not is_archive_name(sf.filename) and (
                    sf.md5 in blocked_md5s if sf.md5 else sf.filename in blocked_names):
                assert existing is not None
                record_id = existing.id
                added.append(sf.md5 or next(m for m, n in blocked if n == sf.filename))
                self.summary.files_skipped_withdrawn += 1
                continue
            try:
                fetched = self.fetcher.fetch(sf, base)
            except FetchError as exc:
                failed = True
                self.error(item.kind, item.identifier, exc)
                continue
            except CrawlError as exc:
                fetched = Fetched([], [RejectedMember("", exc.code, exc.message)])
            for member in fetched.refused:  # the whole file, or single members of an archive
                file_rejections.append(member.code)
                self.summary.files_rejected[member.code] += 1
                name = f"{sf.filename}/{member.name}" if member.name else sf.filename
                self.crawl_store.record_rejected(
                    item.kind, item.identifier, member.code, member.reason, filename=name, url=sf.url
                )
            for fin in fetched.files:
                if fin.md5 in blocked_md5s:  # known only once fetched (an archive member, no md5 at the source)
                    if fin.path:
                        Path(fin.path).unlink(missing_ok=True)
                    assert existing is not None
                    record_id = record_id or existing.id
                    added.append(fin.md5)
                    self.summary.files_skipped_withdrawn += 1
                    continue
                if record_id is None:
                    record_id = self.catalog.upsert_record(record_in)
                _, created = self.catalog.add_file(record_id, fin)
                added.append(fin.md5)
                self.summary.files_added += int(created)

        if record_id is None:
            if failed:
                return "error"
            reason = file_rejections[0] if file_rejections else NO_AUDIO
            self.summary.rejected[reason] += 1
            self.crawl_store.record_rejected(
                item.kind, item.identifier, reason, "no file could be taken in", url=item.page_url
            )
            existing_now = self.crawl_store.find_record(item.kind, item.identifier)
            if existing_now is not None:
                self.summary.files_taken_down += self._take_down(
                    existing_now.id, f"{reason}: files no longer usable"
                )
            return "rejected"
        # files the crawler took out because the licence had stopped being open come back with it
        self.summary.files_restored += len(self.consent.restore_files(
            record_id, set(added), LICENCE_WITHDRAWALS, f"licence {lic.spdx} allows harvesting again"
        ))
        if not failed:
            # files gone from the source since the last crawl leave search; then mark the record complete
            self.summary.files_taken_down += self._take_down(
                record_id, "file no longer at the source", keep_md5s=set(added)
            )
            record_in.extra = {**record_in.extra, "harvested_from": fingerprint}
            self.catalog.upsert_record(record_in)
        self.summary.harvested += 1
        return "error" if failed else "harvested"
