"""Source-independent harvesting: a parsed source item → licence check → downloads → catalogue.

Each source module turns its API answers into a ``SourceItem``; ``Harvester.harvest`` does the rest
idempotently, so a killed crawl can simply be run again: records and files are upserted (records by
(kind, identifier), files by (record, md5)), downloads land under a temp name and are renamed into
place, and a record is marked complete (``extra["harvested_from"]``) only after all its files are in.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from tessera.catalog import licences
from tessera.catalog.accounts import AccountStore
from tessera.catalog.store import Catalog, FileIn, RecordIn
from tessera.crawlers.archives import ArchiveLimits, extract_audio, is_archive_name, is_audio_name
from tessera.crawlers.errors import ChecksumMismatch, CrawlError, FetchError, NoAudio, TooLarge
from tessera.crawlers.http import PoliteClient, SlidingWindowLimiter

# Rejection reasons (stable codes, shown by `tessera rejected` and GET /api/rejected)
NO_LICENCE = "no_licence"
OPTED_OUT = "opted_out"
LICENCE_NOT_OPEN = "licence_not_open"
NO_AUDIO = "no_audio"


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


@dataclass
class CrawlSummary:
    source: str
    dry_run: bool = False
    seen: int = 0
    harvested: int = 0  # records with at least one file in the catalogue (or that would be, dry run)
    unchanged: int = 0  # of those, already complete and not updated at the source
    rejected: Counter[str] = field(default_factory=Counter)
    files_rejected: Counter[str] = field(default_factory=Counter)
    files_downloaded: int = 0
    files_added: int = 0
    files_taken_down: int = 0
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
            "rejected": dict(sorted(self.rejected.items())),
            "rejected_total": sum(self.rejected.values()),
            "files_rejected": dict(sorted(self.files_rejected.items())),
            "files_downloaded": self.files_downloaded,
            "files_added": self.files_added,
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


def _safe_part(text: str) -> str:
    """A file-system-safe single path component."""
    out = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return out[:180] or "_"


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
            self.summary.files_taken_down += self.catalog.take_down_record_files(
                rec.id, f"{reason}: {detail}"
            )

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

    # -- the work ------------------------------------------------------------------------
    def harvest(self, item: SourceItem) -> str:
        """Take one item in. Returns harvested | unchanged | rejected | error."""
        self.summary.seen += 1
        if self.progress:
            self.progress(f"{item.kind} {item.identifier}")
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
        record_id: int | None = None
        added: list[str] = []
        file_rejections: list[str] = []
        failed = False
        base = self.options.cache_dir / item.kind / _safe_part(item.identifier)
        for sf in wanted:
            try:
                files = self._fetch(sf, base)
            except FetchError as exc:
                failed = True
                self.error(item.kind, item.identifier, exc)
                continue
            except CrawlError as exc:
                file_rejections.append(exc.code)
                self.summary.files_rejected[exc.code] += 1
                self.catalog.record_rejected(
                    item.kind, item.identifier, exc.code, exc.message, filename=sf.filename, url=sf.url
                )
                continue
            for fin in files:
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
                self.summary.files_taken_down += self.catalog.take_down_record_files(
                    existing_now.id, f"{reason}: files no longer usable"
                )
            return "rejected"
        if not failed:
            # files gone from the source since the last crawl leave search; then mark the record complete
            self.summary.files_taken_down += self.catalog.take_down_record_files(
                record_id, "file no longer at the source", keep_md5s=set(added)
            )
            record_in.extra = {**record_in.extra, "harvested_from": fingerprint}
            self.catalog.upsert_record(record_in)
        self.summary.harvested += 1
        return "error" if failed else "harvested"

    def _fetch(self, sf: SourceFile, base: Path) -> list[FileIn]:
        """Download one source file (reusing a verified cached copy) and return the audio it yields."""
        name = PurePosixPath(sf.filename.replace("\\", "/")).name
        dest = base / ".archives" / _safe_part(name) if is_archive_name(sf.filename) else base / _safe_part(name)
        if sf.size is not None and sf.size > self.options.max_file_bytes:
            raise TooLarge(f"{sf.filename} is {sf.size} bytes (cap {self.options.max_file_bytes})")
        if sf.md5 and dest.exists() and _md5_of(dest) == sf.md5:
            md5, size = sf.md5, dest.stat().st_size
        else:
            dl = self.client.download(
                sf.url,
                dest,
                self.options.max_file_bytes,
                expected_size=sf.size,
                limiters=self.download_limiters,
            )
            self.summary.files_downloaded += 1
            self.summary.bytes += dl.size
            md5, size = dl.md5, dl.size
            if sf.md5 and md5 != sf.md5:
                dest.unlink(missing_ok=True)
                raise ChecksumMismatch(f"{sf.filename}: md5 {md5}, the source says {sf.md5}")
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
            ]
        target = base / _safe_part(name.split(".")[0] or name)
        try:
            members = extract_audio(dest, target, self.options.archive_limits)
        finally:
            dest.unlink(missing_ok=True)  # the extracted audio is what we keep; archives can be huge
        if not members:
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
            for m in members
        ]


def remove_partial_downloads(cache_dir: Path) -> int:
    """Leftover ``.part`` files from a killed run; safe to delete before a crawl starts."""
    n = 0
    if cache_dir.exists():
        for p in cache_dir.rglob(".*.part"):
            p.unlink(missing_ok=True)
            n += 1
    return n
