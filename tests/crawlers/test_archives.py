"""Safe extraction of tar archives (and the caps shared with zip), on real archives built with tarfile."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from tessera.crawlers.archives import ArchiveLimits, extract_audio
from tessera.crawlers.errors import CrawlError, TooLarge, UnsafeArchive

from .conftest import audio_bytes, md5, zip_bytes

LIMITS = ArchiveLimits(max_members=10, max_total_bytes=1 << 20, max_ratio=50)


def _tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as tf:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tf.addfile(m)
            else:
                name, data = m
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


def _special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def _left_behind(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if p.is_file()] if out.exists() else []


def test_a_plain_tar_yields_only_its_audio(tmp_path: Path) -> None:
    wav, flac = audio_bytes("WAV"), audio_bytes("FLAC", freq=660)
    arc = _tar(tmp_path / "ok.tar.gz", [("set/a.wav", wav), ("set/b.flac", flac), ("set/notes.txt", b"hi")],
               "w:gz")
    got = extract_audio(arc, tmp_path / "out", LIMITS)
    assert sorted((m.name, m.md5, m.size) for m in got) == sorted(
        [("set/a.wav", md5(wav), len(wav)), ("set/b.flac", md5(flac), len(flac))]
    )
    assert all(m.path.read_bytes() in (wav, flac) for m in got)
    assert not (tmp_path / "out" / "set" / "notes.txt").exists()


@pytest.mark.parametrize(
    ("members", "why"),
    [
        ([("../escape.wav", b"RIFF")], "escapes"),
        ([("a/../../escape.wav", b"RIFF")], "escapes"),
        ([("/etc/cron.d/x.wav", b"RIFF")], "absolute"),
        ([("C:\\Windows\\x.wav", b"RIFF")], "absolute"),
        ([_special("l.wav", tarfile.SYMTYPE, "/etc/passwd")], "link"),
        ([_special("l.wav", tarfile.SYMTYPE, "../../outside.wav")], "link"),
        ([("real.wav", b"RIFF"), _special("hard.wav", tarfile.LNKTYPE, "real.wav")], "link"),
        ([_special("zero.wav", tarfile.CHRTYPE)], "device"),
        ([_special("disk.wav", tarfile.BLKTYPE)], "device"),
        ([_special("pipe.wav", tarfile.FIFOTYPE)], "device"),
    ],
)
def test_hostile_tar_members_refuse_the_whole_archive(
    tmp_path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], why: str
) -> None:
    # a harmless audio member first: it must not be left behind when the archive is refused
    arc = _tar(tmp_path / "evil.tar", [("fine.wav", audio_bytes("WAV")), *members])
    with pytest.raises(UnsafeArchive, match=why) as exc:
        extract_audio(arc, tmp_path / "out", LIMITS)
    assert exc.value.code == "unsafe_archive"
    assert _left_behind(tmp_path / "out") == []
    assert not (tmp_path / "escape.wav").exists() and not (tmp_path.parent / "escape.wav").exists()


def test_member_count_cap(tmp_path: Path) -> None:
    arc = _tar(tmp_path / "many.tar", [(f"{i}.wav", b"RIFF") for i in range(LIMITS.max_members + 1)])
    with pytest.raises(TooLarge) as exc:
        extract_audio(arc, tmp_path / "out", LIMITS)
    assert exc.value.code == "too_large"
    assert _left_behind(tmp_path / "out") == []
    ok = _tar(tmp_path / "enough.tar", [(f"{i}.wav", b"RIFF") for i in range(LIMITS.max_members)])
    assert len(extract_audio(ok, tmp_path / "out2", LIMITS)) == LIMITS.max_members


def test_total_uncompressed_cap_is_too_large(tmp_path: Path) -> None:
    # stored (not compressed): the ratio is fine, the total is not
    lim = ArchiveLimits(max_members=10, max_total_bytes=100_000, max_ratio=50)
    big = bytes(range(256)) * 200  # 51,200 bytes, barely compressible enough to matter
    arc = _tar(tmp_path / "big.tar", [("a.wav", big), ("b.wav", big)])
    with pytest.raises(TooLarge) as exc:
        extract_audio(arc, tmp_path / "out", lim)
    assert exc.value.code == "too_large"
    assert _left_behind(tmp_path / "out") == []
    z = tmp_path / "big.zip"
    z.write_bytes(zip_bytes({"a.wav": big, "b.wav": big}, zipfile.ZIP_STORED))
    with pytest.raises(TooLarge):
        extract_audio(z, tmp_path / "outz", lim)
    # non-audio members are not written, so they do not count against the size cap
    ok = _tar(tmp_path / "mixed.tar", [("a.wav", big), ("video.mkv", big)])
    assert [m.name for m in extract_audio(ok, tmp_path / "out3", lim)] == ["a.wav"]


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_compression_ratio_budget_is_cumulative(tmp_path: Path, kind: str) -> None:
    """Each member alone is within the ratio cap of the whole archive; together they are not."""
    lim = ArchiveLimits(max_members=100, max_total_bytes=1 << 30, max_ratio=50)
    members = {f"m{i}.wav": b"\0" * 40_000 for i in range(40)}
    path = tmp_path / f"bomb.{kind}"
    if kind == "zip":
        path.write_bytes(zip_bytes(members))
    else:
        _tar(path, list(members.items()), "w:gz")
    compressed = path.stat().st_size
    assert 40_000 < compressed * lim.max_ratio < 40 * 40_000  # the premise: alone fine, together not
    with pytest.raises(UnsafeArchive, match="compression ratio") as exc:
        extract_audio(path, tmp_path / "out", lim)
    assert exc.value.code == "unsafe_archive"
    assert _left_behind(tmp_path / "out") == []


def test_errors_carry_stable_codes() -> None:
    assert {TooLarge.code, UnsafeArchive.code} == {"too_large", "unsafe_archive"}
    assert issubclass(TooLarge, CrawlError) and issubclass(UnsafeArchive, CrawlError)
