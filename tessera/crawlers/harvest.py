"""Source-independent harvesting: a parsed source item → licence check → downloads → catalogue.

Each source module turns its API answers into a ``SourceItem``; ``Harvester.harvest`` does the rest
idempotently, so a killed crawl can simply be run again: records and files are upserted (records by
(kind, identifier), files by (record, md5)), downloads land under a temp name and are renamed into
place, and a record is marked complete (``extra["harvested_from"]``) only after all its files are in.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from tessera.catalog import licences
from tessera.catalog.accounts import AccountStore
from tessera.catalog.settings import Settings
from tessera.catalog.store import Catalog, FileIn, RecordIn
from tessera.crawlers.archives import (
    ARCHIVE_SUFFIXES,
    ArchiveLimits,
    RejectedMember,
    extract_audio,
    is_archive_name,
    is_audio_name,
)
from tessera.crawlers.errors import ChecksumMismatch, CrawlError, FetchError, NoAudio, TooLarge
from tessera.crawlers.http import PoliteClient, SlidingWindowLimiter

# Rejection reasons (stable codes, shown by `tessera rejected` and GET /api/rejected)
NO_LICENCE = "no_licence"
OPTED_OUT = "opted_out"
LICENCE_NOT_OPEN = "licence_not_open"
NO_AUDIO = "no_audio"
# withdrawals a licence that is open again may undo (never consent, opt-outs or files gone at the source)
LICENCE_WITHDRAWALS = (f"{NO_LICENCE}:", f"{LICENCE_NOT_OPEN}:")
CONCEPT_KEY = "concept"


@dataclass
class SourceFile:
    filename: str
    url: str
    size: int | None = None
    md5: str | None = None
    format: str | None = None
    duration: float | None = None
    title: str | None = None
    creator: str | None = None


@dataclass
class SourceItem:
    """One Zenodo record or IA item, in the shape the harvester needs."""

    kind: str
    identifier: str
    title: str
    licence: str | None  # raw, as the source gives it
    files: list[SourceFile] = field(default_factory=list)
    rejection: tuple[str, str] | None = None  # (reason, detail) decided by the source module
    creator: str | None = None
    description: str | None = None
    keywords: list[str] = field(default_factory=list)
    doi: str | None = None
    page_url: str | None = None
    version: str | None = None
    source_updated: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Versions of one work (a Zenodo concept): ``concept`` names the work, ``version_key`` orders its
    # versions (higher is newer). The catalogue keeps one record per work, at its newest version.
    concept: str | None = None
    version_key: int | None = None


@dataclass
class CrawlSummary:
    source: str
    dry_run: bool = False
    seen: int = 0
    harvested: int = 0  # records with at least one file in the catalogue (or that would be, dry run)
    unchanged: int = 0  # of those, already complete and not updated at the source
    superseded: int = 0  # older versions of a work the catalogue holds at a newer version: skipped
    files_restored: int = 0  # back in search: their licence is open again
    rejected: Counter[str] = field(default_factory=Counter)
    files_rejected: Counter[str] = field(default_factory=Counter)
    files_downloaded: int = 0
    files_added: int = 0
    files_taken_down: int = 0
    files_skipped_withdrawn: int = 0  # withdrawn here (consent, opt-out, takedown): not fetched again
    bytes: int = 0
    errors: int = 0
    error_details: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    waited_seconds: float = 0.0

    def add_client_stats(self, client: PoliteClient) -> None:
        self.requests = client.stats.requests
        self.retries = client.stats.retries
        self.rate_limited = client.stats.rate_limited
        self.waited_seconds = round(client.stats.waited, 3)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "dry_run": self.dry_run,
            "seen": self.seen,
            "harvested": self.harvested,
            "unchanged": self.unchanged,
            "superseded": self.superseded,
            "files_restored": self.files_restored,
            "rejected": dict(sorted(self.rejected.items())),
            "rejected_total": sum(self.rejected.values()),
            "files_rejected": dict(sorted(self.files_rejected.items())),
            "files_downloaded": self.files_downloaded,
            "files_added": self.files_added,
            "files_skipped_withdrawn": self.files_skipped_withdrawn,
            "files_taken_down": self.files_taken_down,
            "bytes": self.bytes,
            "errors": self.errors,
            "error_details": self.error_details,
            "warnings": self.warnings,
            "requests": self.requests,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "waited_seconds": self.waited_seconds,
        }


@dataclass(frozen=True)
class HarvestOptions:
    cache_dir: Path
    max_file_bytes: int
    archive_limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    dry_run: bool = False
    checksum_attempts: int = 3  # downloads of a file before a checksum mismatch is final
    # takedowns go through tessera.consent with these settings (index, cache, previews, datasets)
    settings: Settings | None = None


def _safe_part(text: str) -> str:
    """A file-system-safe single path component."""
    out = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return out[:180] or "_"


def _safe_relpath(name: str) -> str:
    """A source file's sub-path as safe relative components: disc1/01.flac and disc2/01.flac stay apart.

    ``..``, ``.`` and empty components are dropped (never climbing out of the record's folder). A
    component that had to be changed gets a short hash of the original, so that "a b.wav" and "a_b.wav"
    do not land on the same file.
    """
    parts = []
    for comp in name.replace("\\", "/").split("/"):
        if comp in ("", ".", ".."):
            continue
        safe = _safe_part(comp)
        if safe != comp:
            tag = hashlib.sha1(comp.encode("utf-8", "surrogatepass")).hexdigest()[:8]
            stem, dot, ext = safe.rpartition(".")
            safe = f"{stem}~{tag}.{ext}" if dot and stem else f"{safe}~{tag}"
        parts.append(safe)
    return "/".join(parts) or "_"


def _archive_folder(rel: str) -> str:
    """Where an archive's members go: its sub-path with the archive suffix swapped for ``.d``.

    The suffix is not an audio extension, so no audio file of the record can clash with the folder, and
    keeping the whole name (not just the part before the first dot) keeps take.v1.zip and take.v2.zip apart.
    """
    low = rel.lower()
    for suffix in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True):
        if low.endswith(suffix) and len(rel) > len(suffix):
            return f"{rel[: -len(suffix)]}{suffix.replace('.', '_')}.d"
    return f"{rel}.d"


def _md5_of(path: Path) -> str:
    h = hashlib.md5()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def strip_html(text: str | None) -> str | None:
    if not text:
        return text
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))).strip() or None


Progress = Callable[[str], None]
log = logging.getLogger(__name__)


class Harvester:
    def __init__(
        self,
        catalog: Catalog,
        client: PoliteClient,
        options: HarvestOptions,
        summary: CrawlSummary,
        download_limiters: list[SlidingWindowLimiter] | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.catalog = catalog
        self.client = client
        self.options = options
        self.summary = summary
        self.download_limiters = download_limiters or []
        self.progress = progress

    # -- helpers -------------------------------------------------------------------------
    def _reject(self, item: SourceItem, reason: str, detail: str, url: str | None = None) -> None:
        self.summary.rejected[reason] += 1
        if self.options.dry_run:
            return
        self.catalog.clear_rejected(item.kind, item.identifier)
        self.catalog.record_rejected(item.kind, item.identifier, reason, detail, url=url or item.page_url)
        rec = self.catalog.find_record(item.kind, item.identifier)
        if rec is not None:
            # e.g. a licence that stopped being open: take what we had out of search
            self.summary.files_taken_down += self._take_down(
                rec.id, f"{reason}: {detail}"
            )

    def _take_down(self, record_id: int, reason: str, keep_md5s: set[str] | None = None) -> int:
        """Take a record's files out through the consent path, so that vectors, cached audio and previews
        go and datasets get a new version, as for a withdrawal."""
        if self.options.settings is None:  # no index or cache to reach: the catalogue alone
            return self.catalog.take_down_record_files(record_id, reason, keep_md5s)
        from tessera import consent

        w = consent.take_down_record(self.catalog, self.options.settings, record_id, reason, keep_md5s)
        return len(w.file_ids)

    def error(self, kind: str, identifier: str, exc: Exception) -> None:
        self.summary.errors += 1
        self.summary.error_details.append({"kind": kind, "identifier": identifier, "error": str(exc)})

    def _licence(self, item: SourceItem) -> tuple[licences.Licence | None, tuple[str, str] | None]:
        if not item.licence or not str(item.licence).strip():
            return None, (NO_LICENCE, "the source gives no licence")
        lic = licences.try_normalise(item.licence)
        if lic is None or not (lic.open or lic.restricted):
            return None, (LICENCE_NOT_OPEN, f"licence {item.licence!r} is not an open licence")
        return lic, None

    def _opted_out(self, item: SourceItem) -> str | None:
        creators = [c.strip() for c in (item.creator or "").split(";") if c.strip()]
        return AccountStore(self.catalog.db).opted_out(
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
            r for r in self.catalog.find_records_by_extra(item.kind, CONCEPT_KEY, item.concept)
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
        if self.catalog.find_record(item.kind, item.identifier) is None:
            self.catalog.rekey_record(newest.id, item.identifier)
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
        lic, why = self._licence(item)
        if why or lic is None:
            self._reject(item, *(why or (LICENCE_NOT_OPEN, "")))
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
        existing = self.catalog.find_record(item.kind, item.identifier)
        if (
            existing is not None
            and existing.extra.get("harvested_from") == fingerprint
            and existing.source_updated == item.source_updated
            and existing.licence_spdx == lic.spdx
            and self.catalog.record_files_present(existing.id)
        ):
            self.summary.harvested += 1
            self.summary.unchanged += 1
            return "unchanged"

        self.catalog.clear_rejected(item.kind, item.identifier)
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
        base = self.options.cache_dir / item.kind / _safe_part(item.identifier)
        # files withdrawn here stay out: never downloaded into the cache again (only their owner brings them back)
        blocked = self.catalog.blocked_files(existing.id, LICENCE_WITHDRAWALS) if existing is not None else []
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
                files, refused = self._fetch(sf, base)
            except FetchError as exc:
                failed = True
                self.error(item.kind, item.identifier, exc)
                continue
            except CrawlError as exc:
                refused = [RejectedMember("", exc.code, exc.message)]
                files = []
            for member in refused:  # the whole file, or single members of an archive
                file_rejections.append(member.code)
                self.summary.files_rejected[member.code] += 1
                name = f"{sf.filename}/{member.name}" if member.name else sf.filename
                self.catalog.record_rejected(
                    item.kind, item.identifier, member.code, member.reason, filename=name, url=sf.url
                )
            for fin in files:
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
            self.catalog.record_rejected(
                item.kind, item.identifier, reason, "no file could be taken in", url=item.page_url
            )
            existing_now = self.catalog.find_record(item.kind, item.identifier)
            if existing_now is not None:
                self.summary.files_taken_down += self._take_down(
                    existing_now.id, f"{reason}: files no longer usable"
                )
            return "rejected"
        # files the crawler took out because the licence had stopped being open come back with it
        self.summary.files_restored += len(self.catalog.restore_withdrawn_files(
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

    def _fetch(self, sf: SourceFile, base: Path) -> tuple[list[FileIn], list[RejectedMember]]:
        """Download one source file (reusing a verified cached copy): the audio it yields, and the
        members of an archive that were refused."""
        rel = _safe_relpath(sf.filename)
        name = PurePosixPath(rel).name
        dest = base / ".archives" / rel if is_archive_name(sf.filename) else base / rel
        if sf.size is not None and sf.size > self.options.max_file_bytes:
            raise TooLarge(f"{sf.filename} is {sf.size} bytes (cap {self.options.max_file_bytes})")
        if sf.md5 and dest.exists() and _md5_of(dest) == sf.md5:
            md5, size = sf.md5, dest.stat().st_size
        else:
            md5, size = self._download_verified(sf, dest)
        if not is_archive_name(sf.filename):
            ext = PurePosixPath(name).suffix.lower().lstrip(".")
            return [
                FileIn(
                    filename=sf.filename,
                    md5=md5,
                    size=size,
                    path=str(dest.resolve()),
                    url=sf.url,
                    format=ext,
                    duration=sf.duration,
                    title=sf.title,
                    creator=sf.creator,
                )
            ], []
        target = base / _archive_folder(rel)
        try:
            got = extract_audio(dest, target, self.options.archive_limits)
        finally:
            dest.unlink(missing_ok=True)  # the extracted audio is what we keep; archives can be huge
        if not got.members and not got.rejected:
            raise NoAudio(f"{sf.filename} holds no audio")
        return [
            FileIn(
                filename=f"{sf.filename}/{m.name}",
                md5=m.md5,
                size=m.size,
                path=str(m.path.resolve()),
                url=sf.url,
                format=PurePosixPath(m.name).suffix.lower().lstrip("."),
                title=PurePosixPath(m.name).stem,
            )
            for m in got.members
        ], got.rejected

    def _download_verified(self, sf: SourceFile, dest: Path) -> tuple[str, int]:
        """Download, and on a checksum mismatch download again: a damaged transfer is not a bad file.

        Only when every try disagrees with the source's md5 is the file rejected.
        """
        tries = max(1, self.options.checksum_attempts) if sf.md5 else 1
        for attempt in range(1, tries + 1):
            dl = self.client.download(
                sf.url,
                dest,
                self.options.max_file_bytes,
                expected_size=sf.size,
                limiters=self.download_limiters,
            )
            self.summary.files_downloaded += 1
            self.summary.bytes += dl.size
            if not sf.md5 or dl.md5 == sf.md5:
                return dl.md5, dl.size
            dest.unlink(missing_ok=True)
            if attempt < tries:
                self.client.stats.retries += 1
                log.info("%s: md5 %s, the source says %s; downloading again", sf.url, dl.md5, sf.md5)
        raise ChecksumMismatch(
            f"{sf.filename}: md5 {dl.md5} in {tries} downloads, the source says {sf.md5}"
        )


def remove_partial_downloads(cache_dir: Path) -> int:
    """Leftover ``.part`` files from a killed run; safe to delete before a crawl starts."""
    n = 0
    if cache_dir.exists():
        for p in cache_dir.rglob(".*.part"):
            p.unlink(missing_ok=True)
            n += 1
    return n
