"""Fetching one source file into the cache: safe local names, md5 checks, archives opened up.

The bytes come through the source's ``fetch`` (the contract); what is done with them is the same for
every source: a verified cached copy is reused, a checksum mismatch is fetched again before the file
is rejected, and an archive is replaced by its safe audio members.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tessera.catalog.store import FileIn
from tessera.crawlers.archives import ARCHIVE_SUFFIXES, RejectedMember, extract_audio, is_archive_name
from tessera.crawlers.errors import ChecksumMismatch, NoAudio, TooLarge
from tessera.crawlers.sources.base import Source, SourceFile
from tessera.crawlers.summary import CrawlSummary, HarvestOptions

log = logging.getLogger(__name__)


def safe_part(text: str) -> str:
    """A file-system-safe single path component."""
    out = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return out[:180] or "_"


def safe_relpath(name: str) -> str:
    """A source file's sub-path as safe relative components: disc1/01.flac and disc2/01.flac stay apart.

    ``..``, ``.`` and empty components are dropped (never climbing out of the record's folder). A
    component that had to be changed gets a short hash of the original, so that "a b.wav" and "a_b.wav"
    do not land on the same file.
    """
    parts = []
    for comp in name.replace("\\", "/").split("/"):
        if comp in ("", ".", ".."):
            continue
        safe = safe_part(comp)
        if safe != comp:
            tag = hashlib.sha1(comp.encode("utf-8", "surrogatepass")).hexdigest()[:8]
            stem, dot, ext = safe.rpartition(".")
            safe = f"{stem}~{tag}.{ext}" if dot and stem else f"{safe}~{tag}"
        parts.append(safe)
    return "/".join(parts) or "_"


def archive_folder(rel: str) -> str:
    """Where an archive's members go: its sub-path with the archive suffix swapped for ``.d``.

    The suffix is not an audio extension, so no audio file of the record can clash with the folder, and
    keeping the whole name (not just the part before the first dot) keeps take.v1.zip and take.v2.zip apart.
    """
    low = rel.lower()
    for suffix in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True):
        if low.endswith(suffix) and len(rel) > len(suffix):
            return f"{rel[: -len(suffix)]}{suffix.replace('.', '_')}.d"
    return f"{rel}.d"


def md5_of(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Fetched:
    files: list[FileIn]
    refused: list[RejectedMember]  # members of an archive that were not taken


class FileFetcher:
    def __init__(self, source: Source, options: HarvestOptions, summary: CrawlSummary) -> None:
        self.source = source
        self.options = options
        self.summary = summary

    def fetch(self, sf: SourceFile, base: Path) -> Fetched:
        """Fetch one source file (reusing a verified cached copy): the audio it yields, and the members
        of an archive that were refused."""
        rel = safe_relpath(sf.filename)
        dest = base / ".archives" / rel if is_archive_name(sf.filename) else base / rel
        if sf.size is not None and sf.size > self.options.max_file_bytes:
            raise TooLarge(f"{sf.filename} is {sf.size} bytes (cap {self.options.max_file_bytes})")
        if sf.md5 and dest.exists() and md5_of(dest) == sf.md5:
            md5, size = sf.md5, dest.stat().st_size
        else:
            md5, size = self._fetch_verified(sf, dest)
        if not is_archive_name(sf.filename):
            fmt = PurePosixPath(rel).suffix.lower().lstrip(".")
            return Fetched([FileIn(filename=sf.filename, md5=md5, size=size, path=str(dest.resolve()), url=sf.url,
                                   format=fmt, duration=sf.duration, title=sf.title, creator=sf.creator)], [])
        try:
            got = extract_audio(dest, base / archive_folder(rel), self.options.archive_limits)
        finally:
            dest.unlink(missing_ok=True)  # the extracted audio is what we keep; archives can be huge
        if not got.members and not got.rejected:
            raise NoAudio(f"{sf.filename} holds no audio")
        files = [
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
        ]
        return Fetched(files, got.rejected)

    def _fetch_verified(self, sf: SourceFile, dest: Path) -> tuple[str, int]:
        """Fetch, and on a checksum mismatch fetch again: a damaged transfer is not a bad file.

        Only when every try disagrees with the source's md5 is the file rejected.
        """
        tries = max(1, self.options.checksum_attempts) if sf.md5 else 1
        for attempt in range(1, tries + 1):
            dl = self.source.fetch(sf, dest, self.options.max_file_bytes)
            self.summary.files_downloaded += 1
            self.summary.bytes += dl.size
            if not sf.md5 or dl.md5 == sf.md5:
                return dl.md5, dl.size
            dest.unlink(missing_ok=True)
            if attempt < tries:
                self.summary.retries += 1
                log.info("%s: md5 %s, the source says %s; fetching again", sf.url, dl.md5, sf.md5)
        raise ChecksumMismatch(f"{sf.filename}: md5 {dl.md5} in {tries} downloads, the source says {sf.md5}")


def remove_partial_downloads(cache_dir: Path) -> int:
    """Leftover ``.part`` files from a killed run; safe to delete before a crawl starts."""
    n = 0
    if cache_dir.exists():
        for p in cache_dir.rglob(".*.part"):
            p.unlink(missing_ok=True)
            n += 1
    return n
