"""Search by sound through the API on a real indexed catalogue."""

from __future__ import annotations

import io
from pathlib import Path

import soundfile as sf
from fastapi.testclient import TestClient

Indexed = tuple[TestClient, dict[str, int], Path]


def _names(body: dict, ids: dict[str, int]) -> list[str]:
    by_id = {v: k for k, v in ids.items()}
    return [by_id[h["item"]["id"]] for h in body["items"]]


def _trimmed_quieter(path: Path) -> bytes:
    x, sr = sf.read(path, always_2d=True)
    y = x[int(0.002 * sr):] * 0.8  # 2 ms trimmed, -2 dB
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV")
    return buf.getvalue()


def test_upload_finds_neighbours(indexed: Indexed) -> None:
    client, ids, audio = indexed
    r = client.post("/api/search?limit=5",
                    files={"file": ("kick.wav", _trimmed_quieter(audio / "bd_haus.flac"), "audio/wav")})
    assert r.status_code == 200, r.text
    body = r.json()
    names = _names(body, ids)
    assert "bd_haus" in names[:2], names
    assert all(n.startswith("bd_") for n in names[:4]), names
    hit = body["items"][0]
    assert hit["distance"] is not None and hit["item"]["licence"]["spdx"] == "CC-BY-4.0"
    assert all(h["why"] for h in body["items"]), "every hit of a query by sound explains itself"
    assert hit["item"]["attribution"] and "segment_id" in hit
    dists = [h["distance"] for h in body["items"]]
    assert dists == sorted(dists)


def test_upload_errors(indexed: Indexed) -> None:
    client, _ids, _audio = indexed
    r = client.post("/api/search", files={"file": ("x.txt", b"hello, not audio at all", "text/plain")})
    assert r.status_code == 415 and r.json()["code"] == "unsupported_format"
    r = client.post("/api/search", files={"file": ("x.wav", b"RIFF\x24\x00\x00\x00WAVEfmt garbage" * 4,
                                                   "audio/wav")})
    assert r.status_code == 422 and r.json()["code"] == "undecodable"
    r = client.post("/api/search")
    assert r.status_code == 422
    settings = client.app.state.services.settings  # type: ignore[attr-defined]
    before, settings.max_upload_bytes = settings.max_upload_bytes, 1000
    try:
        r = client.post("/api/search", files={"file": ("big.wav", b"RIFF" + b"\0" * 5000, "audio/wav")})
        assert r.status_code == 413 and r.json()["code"] == "too_large"
    finally:
        settings.max_upload_bytes = before


def test_item_query_filters_text_pagination(indexed: Indexed) -> None:
    client, ids, _audio = indexed
    r = client.get("/api/search", params={"item": ids["bd_haus"], "space": "timbre", "limit": 3})
    body = r.json()
    assert r.status_code == 200 and body["total"] == len(ids) - 1
    assert ids["bd_haus"] not in [h["item"]["id"] for h in body["items"]]
    assert sum(n.startswith("bd_") for n in _names(body, ids)) >= 2
    # pagination is stable and complete
    seen = []
    url: str | None = f"/api/search?item={ids['bd_haus']}&space=timbre&limit=4"
    while url:
        page = client.get(url).json()
        seen += [h["item"]["id"] for h in page["items"]]
        url = page["next"]
    assert len(seen) == len(set(seen)) == len(ids) - 1
    # text combines with similarity: only titles matching "sn"
    r = client.get("/api/search", params={"item": ids["bd_haus"], "q": "sn", "limit": 10})
    assert set(_names(r.json(), ids)) == {"sn_dub", "sn_dolf", "sn_zome"}
    # more like these, less like that
    r = client.get("/api/search", params={"item": [ids["ambi_choir"], ids["ambi_drone"]],
                                          "not_item": ids["bd_haus"], "limit": 3})
    assert r.status_code == 200 and r.json()["items"][0]["score"] is not None
    # a negative example pushes what sounds like it down the list
    plain = _names(client.get("/api/search", params={"item": ids["ambi_choir"], "limit": 20}).json(), ids)
    neg = _names(client.get("/api/search", params={"item": ids["ambi_choir"], "not_item": ids["bd_haus"],
                                                   "lambda": 1.0, "limit": 20}).json(), ids)
    plain.remove("bd_haus")  # examples (positive or negative) are never answers
    assert sorted(plain) == sorted(neg)
    kicks_plain = sum(i for i, n in enumerate(plain) if n.startswith("bd_"))
    kicks_neg = sum(i for i, n in enumerate(neg) if n.startswith("bd_"))
    assert kicks_neg >= kicks_plain, (plain, neg)
    # plain browse with filters
    r = client.get("/api/search", params={"q": "bd", "limit": 2})
    assert r.json()["total"] == 5 and r.json()["items"][0]["distance"] is None


def test_bad_requests_are_json(indexed: Indexed) -> None:
    client, _ids, _audio = indexed
    assert client.get("/api/search", params={"item": 999999}).status_code == 404
    assert client.get("/api/search", params={"key": "H"}).status_code == 422
    assert client.get("/api/search", params={"bpm_min": 200, "bpm_max": 100}).status_code == 422
    assert client.get("/api/search", params={"not_item": 1}).status_code == 422
    r = client.get("/api/search", params={"exclude_flag": "loud"})
    assert r.status_code == 422 and r.json()["type"] == "/problems/invalid_request"
