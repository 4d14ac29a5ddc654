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

from tessera.crawlers.errors import BadArchive, TooLarge, UnsafeArchive

AUDIO_EXTENSIONS = frozenset({"wav", "flac", "mp3", "ogg", "opus", "aiff", "aif", "m4a"})
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def is_audio_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower().lstrip(".") in AUDIO_EXTENSIONS


def is_archive_name(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int = 10_000
    max_total_bytes: int = 8 * 1024**3  # uncompressed, audio members only
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


def _copy_capped(src: IO[bytes], dest: Path, budget: int) -> tuple[int, str]:
    """Copy at most ``budget`` bytes (TooLarge beyond), via a temp name and an atomic rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    md5 = hashlib.md5()
    n = 0
    try:
        with tmp.open("wb") as out:
            while chunk := src.read(1 << 16):
                n += len(chunk)
                if n > budget:
                    raise TooLarge(f"archive expands beyond its cap while writing {dest.name}")
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

    Names are checked for every member (not only audio), since a hostile entry is a reason to distrust
    the archive as a whole.
    """
    compressed = max(1, archive.stat().st_size)
    out: list[ExtractedMember] = []
    written = 0
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                infos = list(zf.infolist())
                if len(infos) > limits.max_members:
                    raise TooLarge(f"{len(infos)} members (cap {limits.max_members})")
                declared = sum(i.file_size for i in infos)
                if declared / compressed > limits.max_ratio:
                    raise UnsafeArchive(
                        f"compression ratio {declared / compressed:.0f} (cap {limits.max_ratio:g})"
                    )
                members = list(_zip_members(zf))
                for name, _, _ in members:
                    safe_member_name(name)
                for name, _, size in members:
                    if not is_audio_name(name):
                        continue
                    if written + size > limits.max_total_bytes:
                        raise TooLarge(f"audio members exceed {limits.max_total_bytes} bytes")
                    rel = safe_member_name(name)
                    budget = min(limits.max_total_bytes - written, int(compressed * limits.max_ratio))
                    with zf.open(name) as src:
                        n, md5 = _copy_capped(src, dest_dir / rel, budget)
                    written += n
                    out.append(ExtractedMember(rel, dest_dir / rel, n, md5))
            return out
        if tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                tinfos: list[tarfile.TarInfo] = []
                for ti in tf:  # streaming read: stop counting early on a huge member list
                    tinfos.append(ti)
                    if len(tinfos) > limits.max_members:
                        raise TooLarge(f"more than {limits.max_members} members")
                for ti in tinfos:
                    safe_member_name(ti.name)
                    if ti.issym() or ti.islnk():
                        raise UnsafeArchive(f"tar member {ti.name!r} is a link")
                    if not (ti.isfile() or ti.isdir()):
                        raise UnsafeArchive(f"tar member {ti.name!r} is a device or special file")
                declared = sum(ti.size for ti in tinfos if ti.isfile())
                if declared / compressed > limits.max_ratio:
                    raise UnsafeArchive(
                        f"compression ratio {declared / compressed:.0f} (cap {limits.max_ratio:g})"
                    )
                for ti in tinfos:
                    if not ti.isfile() or not is_audio_name(ti.name):
                        continue
                    if written + ti.size > limits.max_total_bytes:
                        raise TooLarge(f"audio members exceed {limits.max_total_bytes} bytes")
                    rel = safe_member_name(ti.name)
                    member = tf.extractfile(ti)
                    if member is None:
                        continue
                    with member:
                        n, md5 = _copy_capped(member, dest_dir / rel, limits.max_total_bytes - written)
                    written += n
                    out.append(ExtractedMember(rel, dest_dir / rel, n, md5))
            return out
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise BadArchive(f"cannot read archive {archive.name}: {exc}") from exc
    raise BadArchive(f"{archive.name} is neither a zip nor a tar archive")
