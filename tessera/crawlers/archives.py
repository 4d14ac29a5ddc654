"""Safe extraction of the audio members of zip and tar archives.

An archive from the network is hostile until proven otherwise: member names may climb out of the
target (``../``, absolute paths, drive letters), members may be links or devices, and sizes in the
headers may lie (bombs). We extract only audio members, to names we build ourselves, counting the
bytes actually written against the caps.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from tessera.crawlers.errors import BadArchive, CrawlError, TooLarge, UnsafeArchive

AUDIO_EXTENSIONS = frozenset({"wav", "flac", "mp3", "ogg", "opus", "aiff", "aif", "m4a"})
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def is_audio_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower().lstrip(".") in AUDIO_EXTENSIONS


def is_archive_name(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int = 10_000
    max_total_bytes: int = 8 * 1024**3  # uncompressed, all members as declared, audio as written
    max_ratio: float = 200.0  # uncompressed / compressed, whole archive; audio barely compresses


@dataclass(frozen=True)
class ExtractedMember:
    name: str  # the member's (checked) path inside the archive
    path: Path
    size: int
    md5: str


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


def _copy_capped(src: IO[bytes], dest: Path, budget: int, over: CrawlError) -> tuple[int, str]:
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


def _zip_members(zf: zipfile.ZipFile) -> Iterator[tuple[str, bool, int]]:
    for info in zf.infolist():
        ftype = stat.S_IFMT(info.external_attr >> 16)  # 0 when the creator stored no file type
        if info.is_dir():
            continue
        if ftype and ftype != stat.S_IFREG:
            raise UnsafeArchive(f"zip member {info.filename!r} is a link or special file")
        yield info.filename, True, info.file_size


def extract_audio(archive: Path, dest_dir: Path, limits: ArchiveLimits) -> list[ExtractedMember]:
    """Extract the audio members of ``archive`` under ``dest_dir``; refuse the whole archive if unsafe.

    Names and types are checked for every member (not only audio), since a hostile entry is a reason to
    distrust the archive as a whole. Caps: member count and total uncompressed size (``too_large``),
    compression ratio (``unsafe_archive``), checked on the declared sizes before writing anything and
    again, cumulatively over all members, on the bytes actually written. A refused archive leaves none
    of its members behind.
    """
    out: list[ExtractedMember] = []
    try:
        _extract(archive, dest_dir, limits, out)
    except BaseException:
        for m in out:
            m.path.unlink(missing_ok=True)
        raise
    return out


def _extract(archive: Path, dest_dir: Path, limits: ArchiveLimits, out: list[ExtractedMember]) -> None:
    compressed = max(1, archive.stat().st_size)
    ratio_cap = int(compressed * limits.max_ratio)

    def check_declared(total: int, audio: int) -> None:
        if total > ratio_cap:  # a bomb first: it says more than "too large"
            raise UnsafeArchive(f"compression ratio {total / compressed:.0f} (cap {limits.max_ratio:g})")
        if audio > limits.max_total_bytes:
            raise TooLarge(f"audio members declare {audio} bytes (cap {limits.max_total_bytes})")

    written = 0

    def copy(src: IO[bytes], rel: str) -> None:
        nonlocal written
        # one budget for the whole archive, so many members each under the cap cannot add up to a bomb
        if ratio_cap < limits.max_total_bytes:
            over: CrawlError = UnsafeArchive(f"archive expands beyond {limits.max_ratio:g}x while writing {rel}")
        else:
            over = TooLarge(f"audio members exceed {limits.max_total_bytes} bytes while writing {rel}")
        n, md5 = _copy_capped(src, dest_dir / rel, min(limits.max_total_bytes, ratio_cap) - written, over)
        written += n
        out.append(ExtractedMember(rel, dest_dir / rel, n, md5))

    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                infos = list(zf.infolist())
                if len(infos) > limits.max_members:
                    raise TooLarge(f"{len(infos)} members (cap {limits.max_members})")
                check_declared(
                    sum(i.file_size for i in infos), sum(i.file_size for i in infos if is_audio_name(i.filename))
                )
                members = list(_zip_members(zf))
                for name, _, _ in members:
                    safe_member_name(name)
                for name, _, _ in members:
                    if is_audio_name(name):
                        with zf.open(name) as src:
                            copy(src, safe_member_name(name))
            return
        if tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                tinfos: list[tarfile.TarInfo] = []
                declared = audio = 0
                # a streaming read, checked member by member: reading the next header of a compressed
                # tar means inflating everything before it, so a lie is caught before we inflate a bomb
                for ti in tf:
                    tinfos.append(ti)
                    if len(tinfos) > limits.max_members:
                        raise TooLarge(f"more than {limits.max_members} members")
                    safe_member_name(ti.name)
                    if ti.issym() or ti.islnk():
                        raise UnsafeArchive(f"tar member {ti.name!r} is a link")
                    if not (ti.isfile() or ti.isdir()):
                        raise UnsafeArchive(f"tar member {ti.name!r} is a device or special file")
                    declared += ti.size if ti.isfile() else 0
                    audio += ti.size if ti.isfile() and is_audio_name(ti.name) else 0
                    check_declared(declared, audio)
                for ti in tinfos:
                    if not ti.isfile() or not is_audio_name(ti.name):
                        continue
                    member = tf.extractfile(ti)
                    if member is None:
                        continue
                    with member:
                        copy(member, safe_member_name(ti.name))
            return
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise BadArchive(f"cannot read archive {archive.name}: {exc}") from exc
    raise BadArchive(f"{archive.name} is neither a zip nor a tar archive")
