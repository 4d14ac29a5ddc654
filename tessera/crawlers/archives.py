"""Safe extraction of the audio members of zip and tar archives, member by member.

An archive from the network is hostile until proven otherwise: member names may climb out of the
target (``../``, absolute paths, drive letters), members may be links or devices, sizes in the headers
may lie (bombs) and some members may be damaged. Each such member is refused on its own, with its
reason, and the safe audio members are kept: one bad entry must not cost a record all its good files.
Only an archive that cannot be opened at all is refused whole (``BadArchive``). We write only audio
members, to names we build ourselves, counting the bytes actually written against one budget for the
whole archive, so that many members each under the cap cannot add up to a bomb.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from tessera.core.vocab import ARCHIVE_SUFFIXES
from tessera.crawlers.errors import BadArchive, CrawlError, TooLarge, UnsafeArchive

AUDIO_EXTENSIONS = frozenset({"wav", "flac", "mp3", "ogg", "opus", "aiff", "aif", "m4a"})
# what reading a damaged member can raise (CRC errors, truncated streams, encryption, odd methods)
_UNREADABLE = (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, OSError, RuntimeError,
               NotImplementedError)


def is_audio_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower().lstrip(".") in AUDIO_EXTENSIONS


def is_archive_name(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int = 10_000
    max_total_bytes: int = 8 * 1024**3  # audio as written, all members together
    max_ratio: float = 200.0  # written / compressed, whole archive; audio barely compresses


@dataclass(frozen=True)
class ExtractedMember:
    name: str  # the member's (checked) path inside the archive
    path: Path
    size: int
    md5: str


@dataclass(frozen=True)
class RejectedMember:
    name: str  # as the archive names it (escaped if unprintable: it ends up in the catalogue)
    code: str  # a CrawlError code: unsafe_archive, too_large, bad_archive
    reason: str


@dataclass
class Extraction:
    members: list[ExtractedMember] = field(default_factory=list)
    rejected: list[RejectedMember] = field(default_factory=list)


def safe_member_name(name: str) -> str:
    """The member's relative POSIX path, or UnsafeArchive if it could escape the target."""
    if "\x00" in name:
        raise UnsafeArchive(f"member name with a NUL byte: {name!r}")
    norm = name.replace("\\", "/")
    p = PurePosixPath(norm)
    if p.is_absolute() or norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        raise UnsafeArchive(f"absolute member path {name!r}")
    parts = [x for x in p.parts if x not in ("", ".")]
    if not parts or any(x == ".." for x in parts):
        raise UnsafeArchive(f"member path escapes the archive: {name!r}")
    return "/".join(parts)


def copy_capped(src: IO[bytes], dest: Path, budget: int, over: CrawlError) -> tuple[int, str]:
    """Copy at most ``budget`` bytes (raising ``over`` beyond), via a temp name and an atomic rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    md5 = hashlib.md5()
    n = 0
    try:
        with tmp.open("wb") as out:
            while chunk := src.read(1 << 16):
                n += len(chunk)
                if n > budget:
                    raise over
                md5.update(chunk)
                out.write(chunk)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return n, md5.hexdigest()


class _Extractor:
    """The running state of one extraction: the byte budget left and what was kept or refused."""

    def __init__(self, archive: Path, dest_dir: Path, limits: ArchiveLimits) -> None:
        self.dest_dir = dest_dir
        self.limits = limits
        compressed = max(1, archive.stat().st_size)
        ratio_cap = int(compressed * limits.max_ratio)
        self.budget = min(limits.max_total_bytes, ratio_cap)
        # the binding cap names the reason: a bomb says more than "too large"
        self.bomb = ratio_cap < limits.max_total_bytes
        self.result = Extraction()
        self.names: set[str] = set()

    def reject(self, name: str, exc: CrawlError) -> None:
        shown = name if name.isprintable() else repr(name)
        self.result.rejected.append(RejectedMember(shown, exc.code, exc.message))

    def over(self, name: str, size: int | None = None) -> CrawlError:
        what = f"{name!r} ({size} bytes)" if size is not None else repr(name)
        if self.bomb:
            return UnsafeArchive(f"member {what} expands the archive beyond {self.limits.max_ratio:g}x")
        return TooLarge(f"member {what} takes the audio beyond {self.limits.max_total_bytes} bytes")

    def checked_name(self, name: str) -> str:
        rel = safe_member_name(name)
        if rel in self.names:  # a second member landing on the same file would overwrite the first
            raise UnsafeArchive(f"duplicate member path {name!r}")
        return rel

    def copy(self, name: str, rel: str, declared: int, src: IO[bytes]) -> None:
        if declared > self.budget:  # refused on the header's word, before inflating anything
            raise self.over(name, declared)
        n, md5 = copy_capped(src, self.dest_dir / rel, self.budget, self.over(name))
        self.budget -= n
        self.names.add(rel)
        self.result.members.append(ExtractedMember(rel, self.dest_dir / rel, n, md5))

    def too_many(self, name: str) -> None:
        self.reject(name, TooLarge(
            f"more than {self.limits.max_members} members: {name!r} and those after it were not read"))


def extract_audio(archive: Path, dest_dir: Path, limits: ArchiveLimits) -> Extraction:
    """Extract the safe audio members of ``archive`` under ``dest_dir`` and list the refused ones.

    Raises ``BadArchive`` only when the archive cannot be opened at all. Unsafe members (names that
    escape, links, devices; tars are also checked by ``tarfile.data_filter``) are reported whatever
    their type; audio members that are too large for what is left of the budget, or unreadable, are
    reported too. Members beyond ``max_members`` are not read (one report covers them).
    """
    ex = _Extractor(archive, dest_dir, limits)
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, ex)
        elif tarfile.is_tarfile(archive):
            _extract_tar(archive, ex)
        else:
            raise BadArchive(f"{archive.name} is neither a zip nor a tar archive")
    except BaseException:
        for m in ex.result.members:
            m.path.unlink(missing_ok=True)
        raise
    return ex.result


def _extract_zip(archive: Path, ex: _Extractor) -> None:
    try:
        zf = zipfile.ZipFile(archive)
    except _UNREADABLE as exc:
        raise BadArchive(f"cannot read archive {archive.name}: {exc}") from exc
    with zf:
        for i, info in enumerate(zf.infolist()):
            if i >= ex.limits.max_members:
                ex.too_many(info.filename)
                return
            if info.is_dir():
                continue
            try:
                rel = ex.checked_name(info.filename)
                ftype = stat.S_IFMT(info.external_attr >> 16)  # 0 when the creator stored no file type
                if ftype and ftype != stat.S_IFREG:
                    raise UnsafeArchive(f"zip member {info.filename!r} is a link or special file")
                if not is_audio_name(info.filename):
                    continue
                with zf.open(info) as src:
                    ex.copy(info.filename, rel, info.file_size, src)
            except CrawlError as exc:
                ex.reject(info.filename, exc)
            except _UNREADABLE as exc:
                ex.reject(info.filename, BadArchive(f"cannot read member {info.filename!r}: {exc}"))


def _extract_tar(archive: Path, ex: _Extractor) -> None:
    try:
        tf = tarfile.open(archive)  # noqa: SIM115  (closed by the with below: only opening refuses all)
    except _UNREADABLE as exc:
        raise BadArchive(f"cannot read archive {archive.name}: {exc}") from exc
    with tf:
        # a streaming read, member by member: reading the next header of a compressed tar inflates
        # everything before it, so each member is checked before the next is touched
        members = iter(tf)
        count = 0
        while True:
            try:
                ti = next(members, None)
            except _UNREADABLE as exc:  # damaged past this point: keep what came before
                ex.reject(f"(after member {count})", BadArchive(f"the rest of {archive.name} is unreadable: {exc}"))
                return
            if ti is None:
                return
            count += 1
            if count > ex.limits.max_members:
                ex.too_many(ti.name)
                return
            try:
                _tar_member(tf, ti, ex)
            except CrawlError as exc:
                ex.reject(ti.name, exc)
            except _UNREADABLE as exc:
                ex.reject(ti.name, BadArchive(f"cannot read member {ti.name!r}: {exc}"))


def _tar_member(tf: tarfile.TarFile, ti: tarfile.TarInfo, ex: _Extractor) -> None:
    rel = ex.checked_name(ti.name)
    if ti.issym() or ti.islnk():
        raise UnsafeArchive(f"tar member {ti.name!r} is a link")
    if not (ti.isfile() or ti.isdir()):
        raise UnsafeArchive(f"tar member {ti.name!r} is a device or special file")
    try:  # a second opinion: the standard library's own rules for extracting untrusted tars
        tarfile.data_filter(ti, str(ex.dest_dir))
    except tarfile.FilterError as exc:
        raise UnsafeArchive(f"tar member {ti.name!r} refused by tarfile.data_filter: {exc}") from exc
    if not ti.isfile() or not is_audio_name(ti.name):
        return
    src = tf.extractfile(ti)
    if src is not None:
        with src:
            ex.copy(ti.name, rel, ti.size, src)
