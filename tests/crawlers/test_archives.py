"""Safe extraction of tar and zip archives, member by member, on real archives built with tarfile/zipfile."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from tessera.catalog.store import Catalog
from tessera.cli.crawl import crawl_zenodo
from tessera.crawlers.archives import ArchiveLimits, extract_audio
from tessera.crawlers.errors import BadArchive, CrawlError, TooLarge, UnsafeArchive
from tessera.crawlers.store import CrawlStore

from .conftest import (
    FAST,
    Replay,
    _set_files_legacy,
    audio_bytes,
    load,
    md5,
    rewrite,
    settings_for,
    snapshot,
    zip_bytes,
)

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
    got = extract_audio(arc, tmp_path / "out", LIMITS).members
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
        ([_special("hard.wav", tarfile.LNKTYPE, "fine.wav")], "link"),
        ([_special("zero.wav", tarfile.CHRTYPE)], "device"),
        ([_special("disk.wav", tarfile.BLKTYPE)], "device"),
        ([_special("pipe.wav", tarfile.FIFOTYPE)], "device"),
        ([_special("notes.txt", tarfile.SYMTYPE, "/etc/passwd")], "link"),  # not audio: still reported
    ],
)
def test_hostile_tar_members_are_refused_one_by_one(
    tmp_path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], why: str
) -> None:
    # harmless audio members around the hostile one: they are kept
    fine, after = audio_bytes("WAV"), audio_bytes("WAV", freq=880)
    arc = _tar(tmp_path / "evil.tar", [("fine.wav", fine), *members, ("after.wav", after)])
    got = extract_audio(arc, tmp_path / "out", LIMITS)
    assert sorted((m.name, m.md5) for m in got.members) == sorted([("fine.wav", md5(fine)), ("after.wav", md5(after))])
    assert len(got.rejected) == 1 and got.rejected[0].code == "unsafe_archive" and why in got.rejected[0].reason
    assert sorted(p.name for p in _left_behind(tmp_path / "out")) == ["after.wav", "fine.wav"]
    assert not (tmp_path / "escape.wav").exists() and not (tmp_path.parent / "escape.wav").exists()


def test_tarfile_data_filter_is_a_second_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A member our own rules let through but the standard library's data filter refuses is refused."""
    arc = _tar(tmp_path / "t.tar", [("ok.wav", b"RIFF"), ("odd.wav", b"RIFF")])
    real = tarfile.data_filter

    def stricter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
        if member.name == "odd.wav":  # e.g. a rule a future Python adds
            raise tarfile.OutsideDestinationError(member, dest)
        return real(member, dest)

    monkeypatch.setattr(tarfile, "data_filter", stricter)
    got = extract_audio(arc, tmp_path / "out", LIMITS)
    assert [m.name for m in got.members] == ["ok.wav"]
    assert [(r.name, r.code) for r in got.rejected] == [("odd.wav", "unsafe_archive")]
    assert "data_filter" in got.rejected[0].reason


def test_member_count_cap(tmp_path: Path) -> None:
    arc = _tar(tmp_path / "many.tar", [(f"{i}.wav", b"RIFF") for i in range(LIMITS.max_members + 3)])
    got = extract_audio(arc, tmp_path / "out", LIMITS)
    assert len(got.members) == LIMITS.max_members
    assert [(r.name, r.code) for r in got.rejected] == [(f"{LIMITS.max_members}.wav", "too_large")]
    ok = _tar(tmp_path / "enough.tar", [(f"{i}.wav", b"RIFF") for i in range(LIMITS.max_members)])
    got = extract_audio(ok, tmp_path / "out2", LIMITS)
    assert len(got.members) == LIMITS.max_members and not got.rejected


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_total_cap_refuses_the_member_that_crosses_it(tmp_path: Path, kind: str) -> None:
    # stored (not compressed): the ratio is fine, the total is not
    lim = ArchiveLimits(max_members=10, max_total_bytes=100_000, max_ratio=50)
    big = bytes(range(256)) * 200  # 51,200 bytes
    path = tmp_path / f"big.{kind}"
    if kind == "zip":
        path.write_bytes(zip_bytes({"a.wav": big, "b.wav": big, "video.mkv": big}, zipfile.ZIP_STORED))
    else:
        _tar(path, [("a.wav", big), ("b.wav", big), ("video.mkv", big)])
    got = extract_audio(path, tmp_path / "out", lim)
    # non-audio members are not written, so they do not count against the size cap
    assert [m.name for m in got.members] == ["a.wav"]
    assert [(r.name, r.code) for r in got.rejected] == [("b.wav", "too_large")]
    assert [p.name for p in _left_behind(tmp_path / "out")] == ["a.wav"]


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
    got = extract_audio(path, tmp_path / "out", lim)
    assert 1 <= len(got.members) < 40 and len(got.members) + len(got.rejected) == 40
    assert {r.code for r in got.rejected} == {"unsafe_archive"}
    assert all("beyond 50x" in r.reason for r in got.rejected)
    written = sum(p.stat().st_size for p in _left_behind(tmp_path / "out"))
    assert written == sum(m.size for m in got.members) <= compressed * lim.max_ratio


def test_unreadable_member_is_refused_alone(tmp_path: Path) -> None:
    good, bad = audio_bytes("WAV"), audio_bytes("WAV", freq=220)
    raw = bytearray(zip_bytes({"good.wav": good, "bad.wav": bad}, zipfile.ZIP_STORED))
    at = raw.index(bad[100:140])  # damage the stored bytes of bad.wav: its CRC no longer matches
    raw[at] ^= 0xFF
    path = tmp_path / "damaged.zip"
    path.write_bytes(bytes(raw))
    got = extract_audio(path, tmp_path / "out", LIMITS)
    assert [m.name for m in got.members] == ["good.wav"]
    assert [(r.name, r.code) for r in got.rejected] == [("bad.wav", "bad_archive")]
    assert [p.name for p in _left_behind(tmp_path / "out")] == ["good.wav"]


def test_truncated_tar_keeps_the_members_before_the_damage(tmp_path: Path) -> None:
    first, second = audio_bytes("WAV"), audio_bytes("WAV", freq=990)
    whole = _tar(tmp_path / "whole.tar.gz", [("1.wav", first), ("2.wav", second)], "w:gz").read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole[: int(len(whole) * 0.75)])
    got = extract_audio(cut, tmp_path / "out", LIMITS)
    assert [m.name for m in got.members] == ["1.wav"]
    assert got.rejected[0].name == "2.wav" and {r.code for r in got.rejected} == {"bad_archive"}


def test_only_an_archive_that_cannot_be_opened_is_refused_whole(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not an archive at all" * 10)
    with pytest.raises(BadArchive) as exc:
        extract_audio(junk, tmp_path / "out", LIMITS)
    assert exc.value.code == "bad_archive"


def test_errors_carry_stable_codes() -> None:
    assert {TooLarge.code, UnsafeArchive.code} == {"too_large", "unsafe_archive"}
    assert issubclass(TooLarge, CrawlError) and issubclass(UnsafeArchive, CrawlError)


def test_a_zenodo_zip_with_one_unsafe_member_keeps_its_safe_members(
    tmp_path: Path, replay: Replay, catalog: Catalog
) -> None:
    """Issue 15: the recorded legacy record, its zip holding two safe WAVs and one ``../`` member."""
    rec = rewrite(load("zenodo/zenodo_legacy2022_record_7248153_zip_file.json"), replay.base)
    one, two = audio_bytes("WAV", freq=330), audio_bytes("WAV", freq=550)
    z = zip_bytes({"a/one.wav": one, "../../escape.wav": audio_bytes("WAV", freq=770), "a/two.wav": two})
    _set_files_legacy(rec, replay.base, {"recordings.zip": z}, replay)
    rec["updated"] = "2024-01-01T10:00:00+00:00"
    replay.docs[f"/api/records/{rec['id']}"] = rec
    replay.zenodo_records = [rec]

    s = crawl_zenodo(settings_for(tmp_path, replay), catalog, time_scale=60, retry=FAST)
    assert s.harvested == 1 and s.files_added == 2 and not s.rejected
    assert s.files_rejected == {"unsafe_archive": 1}
    assert {(r[1], r[3], r[4]) for r in snapshot(catalog)} == {
        ("7248153", "recordings.zip/a/one.wav", md5(one)),
        ("7248153", "recordings.zip/a/two.wav", md5(two)),
    }
    rejected, total = CrawlStore(catalog.db).list_rejected(50, 0)
    assert total == 1
    assert (rejected[0].identifier, rejected[0].filename, rejected[0].reason) == (
        "7248153", "recordings.zip/../../escape.wav", "unsafe_archive"
    )
    assert not list(tmp_path.rglob("escape.wav"))
