"""The local-folder source: every audio file under a path becomes a file of one source record.

``add_folder`` (``tessera add``) registers the files where they are, probed for duration and format.
``FolderSource`` is the same folder behind the crawler contract: listed when a file in it changed,
fetched by copying into the cache, so the harvest loop can take a folder in like any other source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tessera.catalog.store import Catalog, FileIn, RecordIn
from tessera.core import licences
from tessera.crawlers.archives import copy_capped
from tessera.crawlers.errors import CrawlError, NotFoundAtSource, TooLarge
from tessera.crawlers.files import md5_of
from tessera.crawlers.http import Download
from tessera.crawlers.sources.base import Listed, Source, SourceFile, SourceItem
from tessera.indexer.decode import probe
from tessera.indexer.errors import DecodeError

KIND = "folder"


class FolderError(CrawlError):
    code = "bad_folder"


AUDIO_EXTENSIONS = {".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".aiff", ".aif", ".aifc"}


def find_audio(root: Path) -> list[Path]:
    if root.is_file():
        return [root] if root.suffix.lower() in AUDIO_EXTENSIONS else []
    # symlinks are not followed: a folder must not pull in files from outside itself
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and not p.is_symlink()
        and p.suffix.lower() in AUDIO_EXTENSIONS
        and not p.name.startswith("._")
    )


@dataclass
class AddReport:
    record_id: int
    found: int = 0
    added: int = 0
    unchanged: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)


class FolderSource(Source):
    kind = KIND

    def __init__(
        self,
        root: Path,
        licence: str,
        creator: str,
        title: str | None = None,
        source_url: str | None = None,
        description: str | None = None,
    ) -> None:
        super().__init__()
        self.root = root.expanduser().resolve()
        self.licence, self.creator, self.title = licence, creator, title
        self.source_url, self.description = source_url, description

    def state_key(self) -> str:
        return f"folder:{self.root}"

    def audio_paths(self) -> list[Path]:
        if not self.root.exists():
            raise NotFoundAtSource(f"no such file or folder: {self.root}", url=self.root.as_uri())
        return find_audio(self.root)

    def list_records(self, state: dict[str, Any], since: str | None) -> Iterator[Listed]:
        """The folder, if a file in it changed since the last run (or ``since``)."""
        files = self.audio_paths()
        newest = max((p.stat().st_mtime for p in files), default=0.0)
        stamp = datetime.fromtimestamp(newest, UTC).isoformat()
        lower = max(filter(None, [state.get("since"), since]), default=None)
        if lower is None or stamp > lower:
            yield Listed(str(self.root), None, {"since": stamp})

    def source_file(self, path: Path) -> SourceFile:
        """One audio file of the folder, named by its path inside it, with its md5."""
        rel = path.relative_to(self.root).as_posix() if self.root.is_dir() else path.name
        return SourceFile(filename=rel, url=path.as_uri(), size=path.stat().st_size, md5=md5_of(path),
                          format=path.suffix.lstrip(".").lower(), title=path.stem)

    def path_of(self, file: SourceFile) -> Path:
        path = Path(unquote(urlsplit(file.url).path)).resolve()
        if path != self.root and self.root not in path.parents:  # only files of this folder
            raise NotFoundAtSource(f"{file.url} is not under {self.root}", url=file.url)
        return path

    def record(self, listed: Listed) -> SourceItem:
        if listed.identifier != str(self.root):
            raise NotFoundAtSource(f"{listed.identifier} is not this folder ({self.root})", url=self.root.as_uri())
        return SourceItem(kind=KIND, identifier=str(self.root), title=self.title or self.root.name,
                          licence=self.licence, files=[self.source_file(p) for p in self.audio_paths()],
                          creator=self.creator, description=self.description, page_url=self.source_url)

    def fetch(self, file: SourceFile, dest: Path, max_bytes: int) -> Download:
        path = self.path_of(file)
        with path.open("rb") as src:
            size, md5 = copy_capped(src, dest, max_bytes, TooLarge(f"{path} exceeds {max_bytes} bytes"))
        return Download(dest, size, md5)



def add_folder(
    catalog: Catalog,
    root: Path,
    licence: str,
    creator: str,
    title: str | None = None,
    source_url: str | None = None,
    description: str | None = None,
    on_file: Callable[[Path], None] | None = None,
) -> AddReport:
    """Register a folder as one source record; idempotent (same md5 in the record is the same file)."""
    root = root.expanduser().resolve()
    if not root.exists():
        raise FolderError(f"no such file or folder: {root}")
    lic = licences.normalise(licence)  # refuse unknown licences before touching the catalogue
    # listed and named as the source contract lists them; registered in place, probed, not copied
    source = FolderSource(root, lic.spdx, creator, title, source_url, description)
    files = source.audio_paths()
    if not files:
        raise FolderError(f"no audio files ({', '.join(sorted(AUDIO_EXTENSIONS))}) under {root}")
    record_id = catalog.upsert_record(
        RecordIn(
            kind=KIND,
            identifier=str(root),
            title=title or root.name,
            licence=lic.spdx,
            creator=creator,
            description=description,
            page_url=source_url,
        )
    )
    report = AddReport(record_id=record_id, found=len(files))
    for path in files:
        sf = source.source_file(path)
        rel = sf.filename
        try:
            info = probe(path)
            duration, sr, ch, fmt = info.duration, info.sample_rate, info.channels, info.format
        except DecodeError as exc:
            # still registered: the indexer records it as failed with this reason
            report.unreadable.append((rel, exc.message))
            duration = sr = ch = None
            fmt = path.suffix.lstrip(".").lower()
        _, created = catalog.add_file(
            record_id,
            FileIn(
                filename=rel,
                md5=str(sf.md5),
                size=path.stat().st_size,
                path=str(path),
                url=f"{source_url.rstrip('/')}/{rel}" if source_url else None,
                format=fmt,
                duration=duration,
                sample_rate=sr,
                channels=ch,
                title=path.stem,
            ),
        )
        if created:
            report.added += 1
        else:
            report.unchanged += 1
        if on_file:
            on_file(path)
    return report


SOURCE = FolderSource
