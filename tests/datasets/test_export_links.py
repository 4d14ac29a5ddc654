"""Where each kind of member is downloaded from, and what an export may say about the server."""

from __future__ import annotations

import pytest

from tessera.core.errors import InvalidInput
from tessera.core.settings import Settings
from tessera.datasets.export_links import NO_COPY, NO_PUBLIC_URL, Links, locate
from tessera.datasets.store import ExportMember

PUB = Links("https://tessera.example.org/")


def member(**kw: object) -> ExportMember:
    base: dict[str, object] = {"file_id": 7, "status": "active", "md5": "0" * 32, "filename": "a.wav",
                               "source_kind": "zenodo", "source_identifier": "123",
                               "url": "https://zenodo.org/records/123/files/a.wav/content",
                               "path": "/srv/tessera/cache/zenodo/123/a.wav"}
    return ExportMember(**{**base, **kw})  # type: ignore[arg-type]


def test_crawled_file_keeps_its_source_url() -> None:
    m, kind, note = locate(member(), PUB)
    assert (m.url, kind, note) == ("https://zenodo.org/records/123/files/a.wav/content", "source", "")


def test_archive_member_and_folder_file_come_from_the_server() -> None:
    m, kind, _ = locate(member(filename="rec.zip/a/one.wav", url="https://zenodo.org/x/rec.zip/content"), PUB)
    assert (m.url, kind) == ("https://tessera.example.org/api/items/7/audio", "server")
    m, kind, _ = locate(member(source_kind="folder", source_identifier="/srv/sounds/field", filename="b/c.wav",
                               url="https://example.org/page/b/c.wav", path="/srv/sounds/field/b/c.wav"), PUB)
    assert (m.url, kind, m.source_identifier) == ("https://tessera.example.org/api/items/7/audio", "server",
                                                  "field")
    # a folder taken in by the harvest loop: its source URL is a file:// path, never shown
    m, kind, _ = locate(member(source_kind="folder", url="file:///srv/sounds/a.wav"), Links())
    assert (m.url, kind) == (None, None)


def test_file_urls_only_when_asked_and_no_url_said_plainly() -> None:
    folder = member(source_kind="folder", source_identifier="/srv/f", url=None, path="/srv/f/a.wav")
    m, kind, _ = locate(folder, Links(file_urls=True))
    assert (m.url, kind) == ("file:///srv/f/a.wav", "file")
    assert locate(folder, Links())[1:] == (None, NO_PUBLIC_URL)
    gone = member(filename="rec.zip/a.wav", path=None)
    assert locate(gone, PUB)[1:] == (None, NO_COPY)
    hidden = ExportMember(file_id=9, status="lapsed")
    assert locate(hidden, PUB) == (hidden, None, "")


@pytest.mark.parametrize("bad", ["ftp://h/", "tessera.example.org", "https://h/?x=1", "https:///p"])
def test_public_url_must_be_an_http_base(bad: str) -> None:
    with pytest.raises(InvalidInput):
        Links(bad)
    with pytest.raises(ValueError):
        Settings(public_url=bad)
    assert Settings(public_url="").public_url is None
