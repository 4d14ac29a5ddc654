"""The contract every crawler source implements, and the shapes it hands to the harvest loop.

A source knows its own API: how to list its records incrementally (and what to remember between runs
to carry on), how to get one record in full, how its licences map to SPDX and how to fetch a file.
Everything else (licence and opt-out rules, versions, checksums, archives, the catalogue, saving
the listing's progress, retrying failed records) is the harvest loop's, identical for every source.
"""

from __future__ import annotations

import html
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from tessera.core import licences
from tessera.crawlers.http import Download

# Rejection reasons a licence can earn (stable codes, shown by `tessera rejected` and GET /api/rejected)
NO_LICENCE = "no_licence"
LICENCE_NOT_OPEN = "licence_not_open"


class Rejection(NamedTuple):
    reason: str  # a stable code
    detail: str


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
    """One Zenodo record, IA item or local folder, in the shape the harvester needs."""

    kind: str
    identifier: str
    title: str
    licence: str | None  # raw, as the source gives it
    files: list[SourceFile] = field(default_factory=list)
    rejection: Rejection | None = None  # decided by the source module (access, collection rules)
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


@dataclass(frozen=True)
class Listed:
    """One record as the listing names it.

    ``raw`` is what the listing already returned for it (None: ``record`` fetches it by identifier);
    ``checkpoint`` is the listing state to save once this record is done, so that a killed or limited
    run carries on after it.
    """

    identifier: str
    raw: dict[str, Any] | None = None
    checkpoint: dict[str, Any] = field(default_factory=dict)


class Source(ABC):
    """One source of records. Subclasses live one per module in ``tessera.crawlers.sources``."""

    kind: ClassVar[str]  # the catalogue's SourceRecord.kind

    def __init__(self) -> None:
        self.warnings: list[str] = []  # told to the crawl summary (e.g. a listing that changed under us)

    @abstractmethod
    def state_key(self) -> str:
        """Names the saved progress of this listing (its query), in the catalogue's crawl state."""

    @abstractmethod
    def list_records(self, state: dict[str, Any], since: str | None) -> Iterator[Listed]:
        """Records changed since the saved ``state`` (or ``since``, whichever is later), oldest first.

        The generator may update ``state`` between records (a new page's cursor, a finished pass); the
        loop saves it after each record, with each record's ``checkpoint`` applied.
        """

    @abstractmethod
    def record(self, listed: Listed) -> SourceItem:
        """The record in full. Raises NotFoundAtSource, MalformedRecord or FetchError."""

    @abstractmethod
    def fetch(self, file: SourceFile, dest: Path, max_bytes: int) -> Download:
        """Write the file's bytes to ``dest`` (atomically; at most ``max_bytes``) with their md5.

        The loop compares the md5 with the source's and fetches again on a mismatch.
        """

    def map_licence(self, raw: str | None) -> licences.Licence | Rejection:
        """The licence as SPDX, or why the record cannot be taken in."""
        if not raw or not str(raw).strip():
            return Rejection(NO_LICENCE, "the source gives no licence")
        lic = licences.try_normalise(raw)
        if lic is None or not (lic.open or lic.restricted):
            return Rejection(LICENCE_NOT_OPEN, f"licence {raw!r} is not an open licence")
        return lic


def strip_html(text: str | None) -> str | None:
    if not text:
        return text
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))).strip() or None
