"""The local-folder source: every audio file under a path becomes a file of one source record."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tessera.catalog.store import Catalog, FileIn, RecordIn
from tessera.core import licences
from tessera.crawlers.errors import CrawlError
from tessera.indexer.decode import probe
from tessera.indexer.errors import DecodeError

log = logging.getLogger(__name__)


class FolderError(CrawlError):
    code = "bad_folder"


AUDIO_EXTENSIONS = {".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".aiff", ".aif", ".aifc"}


def md5_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


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
    files = find_audio(root)
    if not files:
        raise FolderError(f"no audio files ({', '.join(sorted(AUDIO_EXTENSIONS))}) under {root}")
    record_id = catalog.upsert_record(
        RecordIn(
            kind="folder",
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
        rel = path.relative_to(root).as_posix() if root.is_dir() else path.name
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
                md5=md5_of(path),
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
