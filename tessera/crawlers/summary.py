"""What a crawl reports (``CrawlSummary``) and how it is run (``HarvestOptions``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tessera.consent.service import ConsentService
from tessera.crawlers.archives import ArchiveLimits
from tessera.crawlers.http import PoliteClient


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
        self.retries += client.stats.retries  # on top of the checksum re-fetches counted here
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
    # takedowns, restores and opt-outs go through the consent service (index, cache, previews, datasets)
    consent: ConsentService | None = None
