"""Where an export tells its users to download each file from, and what it may say about the server.

An export must work off this server: every absolute URL in it is either a source's own download URL
(a crawled file), this server's audio URL under its public URL (``TESSERA_PUBLIC_URL``), or, only when
the builder asks for an export for this same machine, a ``file://`` URL of the local copy. Without
either of the last two a local file gets no URL, and the export says so.

Server filesystem paths never appear otherwise: a folder source's identifier is its absolute path, so
the export names the folder only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from tessera.core.errors import InvalidInput
from tessera.core.settings import public_base_url
from tessera.crawlers.archives import is_archive_name
from tessera.datasets.store import ExportMember

FOLDER_KIND = "folder"
# url_kind column of the manifest: where a member's URL points
SOURCE, SERVER, FILE = "source", "server", "file"

NO_COPY = "no download URL: the source's URL is not this file's own and this server holds no copy"
NO_PUBLIC_URL = ("no download URL: this server has no public URL; export again with TESSERA_PUBLIC_URL set "
                 "(or --public-url), or with --file-urls on this machine")


def public_base(url: str | None) -> str | None:
    """``url`` checked as the base of an export's absolute links; trailing slash dropped."""
    try:
        base = public_base_url(url)
    except ValueError as exc:
        raise InvalidInput(str(exc), public_url=url) from exc
    return base.rstrip("/") if base else None


@dataclass(frozen=True)
class Links:
    """How an export links files: ``public_url`` is this server's public base URL (None: not known);
    ``file_urls`` links local copies as ``file://`` URLs (an export for this same machine only)."""

    public_url: str | None = None
    file_urls: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "public_url", public_base(self.public_url))

    def dataset_page(self, dataset_id: int) -> str | None:
        return f"{self.public_url}/#/datasets/{dataset_id}" if self.public_url else None

    def server_audio(self, file_id: int) -> str | None:
        return f"{self.public_url}/api/items/{file_id}/audio" if self.public_url else None


def direct_source_url(m: ExportMember) -> bool:
    """Whether ``m.url`` downloads exactly this file: a crawled file, not a member of a fetched archive
    (whose URL is the archive's) and not a folder file (whose URL is a web page or a local path)."""
    if not m.url or m.source_kind == FOLDER_KIND:
        return False
    if urlsplit(m.url).scheme not in ("http", "https"):
        return False
    first = PurePosixPath(m.filename).parts[:-1]
    return not any(is_archive_name(p) for p in first)


def locate(m: ExportMember, links: Links) -> tuple[ExportMember, str | None, str]:
    """``m`` as the export shows it (url = where to download it, no server path), its url_kind, and a
    note when it has no URL."""
    if m.status != "active":
        return m, None, ""
    shown = m
    if m.source_kind == FOLDER_KIND:  # the identifier of a folder record is its absolute path
        shown = replace(m, source_identifier=PurePosixPath(m.source_identifier).name or "folder")
    if direct_source_url(m):
        return shown, SOURCE, ""
    if links.file_urls and m.path:
        return replace(shown, url=Path(m.path).resolve().as_uri()), FILE, ""
    if not m.path:  # nothing this server could stream either
        return replace(shown, url=None), None, NO_COPY
    if links.public_url:
        return replace(shown, url=links.server_audio(m.file_id)), SERVER, ""
    return replace(shown, url=None), None, NO_PUBLIC_URL

