"""A real HTTP server on 127.0.0.1 replaying recorded Zenodo and Internet Archive answers.

The recorded bodies come from ../shared/fixtures; we only adapt what must point back at this server
(URLs), and the files (which we generate as real audio, so checksums and sizes are rewritten to match).
Faults are queued per path and consumed in order.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import re
import socket
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import pytest
import soundfile as sf
from sqlalchemy import select

from tessera.catalog.models import AudioFile, SourceRecord
from tessera.catalog.store import Catalog
from tessera.catalog.visibility import OPERATOR
from tessera.core.db import Database
from tessera.core.settings import Settings
from tessera.crawlers.http import RetryPolicy

REPO = Path(__file__).resolve().parents[2]
# shared/ sits beside the checkout (in CI a fresh clone gets a copy there)
FIXTURES = next((p for p in (REPO.parent / "shared" / "fixtures", Path("/work/shared/fixtures")) if p.is_dir()),
                REPO.parent / "shared" / "fixtures")

FAST = RetryPolicy(attempts=4, backoff=0.01, backoff_max=0.05, max_retry_after=5, timeout=1.0)


def settings_for(tmp_path: Path, replay: Replay) -> Settings:
    return Settings(data_dir=tmp_path / "data", zenodo_url=replay.base, ia_url=replay.base)


def snapshot(cat: Catalog) -> list[tuple[Any, ...]]:
    with cat.db.session() as s:
        rows = s.execute(
            select(
                SourceRecord.kind,
                SourceRecord.identifier,
                SourceRecord.licence_spdx,
                AudioFile.filename,
                AudioFile.md5,
                AudioFile.size,
                AudioFile.licence_spdx,
                AudioFile.consent_state,
            ).join(AudioFile, AudioFile.record_id == SourceRecord.id)
        ).all()
    return sorted(tuple(r) for r in rows)


def load(rel: str) -> Any:
    return json.loads((FIXTURES / rel).read_text())


def audio_bytes(fmt: str = "WAV", seconds: float = 0.2, freq: float = 440.0, sr: int = 8000) -> bytes:
    t = np.arange(int(sr * seconds)) / sr
    buf = io.BytesIO()
    sf.write(buf, 0.3 * np.sin(2 * np.pi * freq * t), sr, format=fmt)
    return buf.getvalue()


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


class Replay:
    def __init__(self) -> None:
        self.docs: dict[str, Any] = {}
        self.blobs: dict[str, bytes] = {}
        self.zenodo_records: list[dict[str, Any]] = []
        self.ia_items: list[dict[str, Any]] = []  # {"identifier", "updated"}
        self.faults: dict[str, list[str]] = {}
        self.log: list[tuple[float, str, str, int]] = []  # (time, path, user agent, status)
        self.limit: tuple[int, float] | None = None  # emulated server-side limit -> 429
        self.search_limit: tuple[int, float] | None = None  # Zenodo's separate limit on /api/records
        self.on_search: Callable[[int], None] | None = None  # called after the n-th search answer
        self.searches = 0
        self.blob_delay = 0.0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    # -- helpers for tests -------------------------------------------------------------
    def fault(self, path: str, *kinds: str) -> None:
        self.faults.setdefault(path, []).extend(kinds)

    def requests(self, prefix: str = "") -> list[tuple[float, str, str, int]]:
        with self.lock:
            return [r for r in self.log if r[1].startswith(prefix)]

    def max_in_window(self, window: float, prefix: str = "", search_only: bool = False) -> int:
        times = sorted(r[0] for r in self.requests(prefix) if not search_only or _is_search(r[1]))
        best, j = 0, 0
        for i, t in enumerate(times):
            while times[j] <= t - window:
                j += 1
            best = max(best, i - j + 1)
        return best

    # -- the server ----------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        replay = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out separately; no 40 ms ACK stalls

            def log_message(self, *a: Any) -> None:
                pass

            def _send(
                self,
                status: int,
                body: bytes,
                ctype: str = "application/json",
                headers: dict[str, str] | None = None,
                declared: int | None = None,
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(declared if declared is not None else len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                path = unquote(parts.path)
                qs = {k: v[0] for k, v in parse_qs(parts.query).items()}
                now = time.monotonic()
                with replay.lock:
                    status = 200
                    if replay.limit:
                        n, w = replay.limit
                        recent = [r for r in replay.log if r[0] > now - w and r[3] != 429]
                        if len(recent) >= n:
                            status = 429
                    if replay.search_limit and _is_search(path):
                        n, w = replay.search_limit
                        recent = [
                            r for r in replay.log if r[0] > now - w and r[3] != 429 and _is_search(r[1])
                        ]
                        if len(recent) >= n:
                            status = 429
                    fault = replay.faults[path].pop(0) if replay.faults.get(path) else None
                    replay.log.append(
                        (
                            now,
                            path,
                            self.headers.get("User-Agent", ""),
                            429 if status == 429 else int(fault) if fault and fault.isdigit() else 200,
                        )
                    )
                if status == 429:
                    return self._send(429, b'{"message": "rate limited"}', headers={"Retry-After": "1"})
                if fault == "429":
                    return self._send(429, b'{"message": "slow down"}', headers={"Retry-After": "1"})
                if fault and fault.isdigit():
                    return self._send(int(fault), b'{"status": %s, "message": "fault"}' % fault.encode())
                if fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return None
                if fault == "slow":
                    time.sleep(1.5)
                body, ctype, headers = self._route(path, qs)
                if body is None:
                    return self._send(
                        404, json.dumps(load("zenodo/zenodo_legacy2022_record_404_error.json")).encode()
                    )
                if fault == "badjson":
                    return self._send(200, body[: len(body) // 2])
                if fault == "corrupt":  # right length, wrong bytes: a transfer damaged on the way
                    return self._send(200, bytes([body[0] ^ 0xFF]) + body[1:], ctype, headers)
                if fault == "truncate":
                    self._send(200, body[: len(body) // 2], ctype, declared=len(body))
                    self.close_connection = True
                    return None
                if ctype != "application/json" and replay.blob_delay:
                    time.sleep(replay.blob_delay)
                return self._send(200, body, ctype, headers)

            def _route(self, path: str, qs: dict[str, str]) -> tuple[bytes | None, str, dict[str, str]]:
                hdr = {
                    "X-RateLimit-Limit": "60",
                    "X-RateLimit-Remaining": "59",
                    "X-RateLimit-Reset": str(int(time.time()) + 60),
                    "Retry-After": "60",
                }
                if _is_search(path):
                    body = json.dumps(replay.zenodo_search(qs)).encode()
                    with replay.lock:
                        replay.searches += 1
                        n = replay.searches
                    if replay.on_search:
                        replay.on_search(n)  # after the answer is built: the change shows on the next page
                    return body, "application/json", hdr
                if path == "/services/search/v1/scrape":
                    return json.dumps(replay.ia_scrape(qs)).encode(), "application/json", {}
                if path.startswith("/metadata/"):
                    doc = replay.docs.get(path, {})
                    return json.dumps(doc).encode(), "application/json", {}
                if path in replay.docs:
                    return json.dumps(replay.docs[path]).encode(), "application/json", hdr
                if path in replay.blobs:
                    return replay.blobs[path], "application/octet-stream", {}
                return None, "", {}

        return H

    def zenodo_search(self, qs: dict[str, str]) -> dict[str, Any]:
        q = qs.get("q", "*")
        recs = sorted(self.zenodo_records, key=lambda r: r["updated"])
        m = re.search(r'updated:\["?([^"\]]+?)"? TO \*\]', q)
        if m:
            recs = [r for r in recs if r["updated"] >= m.group(1)]
        page, size = int(qs.get("page", 1)), int(qs.get("size", 10))
        hits = recs[(page - 1) * size : page * size]
        links = {"self": f"{self.base}/api/records/?page={page}&size={size}"}
        if page * size < len(recs):
            nq = {**qs, "page": str(page + 1)}
            from urllib.parse import urlencode

            links["next"] = f"{self.base}/api/records/?{urlencode(nq)}"
        return {"hits": {"hits": copy.deepcopy(hits), "total": len(recs)}, "links": links}

    def ia_scrape(self, qs: dict[str, str]) -> dict[str, Any]:
        items = self.ia_items
        m = re.search(r"oai_updatedate:\[(\S+) TO \*\]", qs.get("q", ""))
        if m:
            items = [i for i in items if i["updated"] >= m.group(1)]
        start = int(base64.b64decode(qs["cursor"]).decode()) if qs.get("cursor") else 0
        count = int(qs.get("count", 100))
        chunk = items[start : start + count]
        out: dict[str, Any] = {
            "items": [{"identifier": i["identifier"]} for i in chunk],
            "count": len(chunk),
            "total": len(items),
        }
        if start + count < len(items):
            out["cursor"] = base64.b64encode(str(start + count).encode()).decode()
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _is_search(path: str) -> bool:
    return path.rstrip("/") == "/api/records"


def rewrite(obj: Any, base: str) -> Any:
    text = json.dumps(obj).replace("https://zenodo.org", base).replace("https://archive.org", base)
    return json.loads(text)


@pytest.fixture
def replay() -> Iterator[Replay]:
    r = Replay()
    yield r
    r.close()


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    db = Database(f"sqlite:///{tmp_path / 'c.sqlite'}")
    db.migrate()
    return Catalog(db, OPERATOR)


def _set_files_legacy(
    rec: dict[str, Any], base: str, files: dict[str, bytes], replay: Replay, bad_md5: bool = False,
    bad: frozenset[str] = frozenset(),
) -> None:
    """Legacy-shape file entries served by the replay; `bad_md5` (all) or `bad` (by name) get a wrong md5."""
    entries = []
    for name, data in files.items():
        path = f"/api/files/bucket-{rec['id']}/{name}"
        replay.blobs[path] = data
        entries.append(
            {
                "key": name,
                "size": len(data),
                "type": name.rsplit(".", 1)[-1],
                "checksum": "md5:" + ("0" * 32 if bad_md5 or name in bad else md5(data)),
                "links": {"self": base + path},
            }
        )
    rec["files"] = entries


# what a crawl of build_zenodo_world rejects, by reason
ZENODO_WORLD_REJECTED = {
    "access_closed": 1,
    "access_embargoed": 1,
    "checksum_mismatch": 1,
    "licence_not_open": 1,
    "no_audio": 3,
    "no_licence": 1,
    "unsafe_archive": 2,
}


def build_zenodo_world(replay: Replay) -> dict[str, Any]:
    """Records from the three recorded shapes, plus variants for each rejection reason."""
    base = replay.base
    wav1, wav2 = audio_bytes("WAV", freq=330), audio_bytes("WAV", freq=550)
    flac = audio_bytes("FLAC", freq=660)
    recs: list[dict[str, Any]] = []
    stamp = iter(f"2024-01-{d:02d}T10:00:00.000000+00:00" for d in range(1, 29))

    # legacy 2022 shape, one zip of audio (+ a CSV that must be left out)
    legacy = rewrite(load("zenodo/zenodo_legacy2022_record_7248153_zip_file.json"), base)
    _set_files_legacy(
        legacy,
        base,
        {"recordings.zip": zip_bytes({"a/one.wav": wav1, "a/two.wav": wav2, "a/notes.csv": b"x,y\n"})},
        replay,
    )
    recs.append(legacy)

    # today's default JSON: "cc-zero", files[].links.self ending /content
    cc0 = rewrite(load("zenodo/zenodo_rdm2023_search_hit_legacyjson_6515860.json"), base)
    cc0["files"] = cc0["files"][:1]  # the HTML page: not audio
    replay.blobs[f"/api/records/{cc0['id']}/files/tone.flac/content"] = flac
    cc0["files"].append(
        {
            "id": "x",
            "key": "tone.flac",
            "size": len(flac),
            "checksum": f"md5:{md5(flac)}",
            "links": {"self": f"{base}/api/records/{cc0['id']}/files/tone.flac/content"},
        }
    )
    recs.append(cc0)

    # InvenioRDM-native: files.entries, links.content, rights[].id
    rdm = rewrite(load("zenodo/zenodo_rdm_native_record_2867216_audio_wav_zip_ccby40.json"), base)
    z = zip_bytes(
        {
            "26_29_09_2017_KCL/ReadText/HC/ID00_hc_0_0_0.wav": wav1,
            "26_29_09_2017_KCL/ReadText/PD/ID02_pd_1_2_1.wav": audio_bytes("WAV", freq=770),
        }
    )
    entry = rdm["files"]["entries"]["26_29_09_2017_KCL.zip"]
    entry.update(size=len(z), checksum=f"md5:{md5(z)}")
    replay.blobs[urlsplit(entry["links"]["content"]).path] = z
    recs.append(rdm)

    # the recorded dataset search: CSV/PDF only -> no_audio
    recs += rewrite(load("zenodo/zenodo_legacy2022_search_type_dataset.json"), base)["hits"]["hits"]

    def variant(recid: int, **md: Any) -> dict[str, Any]:
        r = copy.deepcopy(legacy)
        r["id"] = recid
        r["conceptrecid"] = str(recid + 500)  # a work of its own, not a new version of the legacy record
        r["metadata"].update(md)
        r["metadata"]["title"] = f"variant {recid}"
        _set_files_legacy(r, base, {f"take{recid}.wav": audio_bytes("WAV", freq=200 + recid % 1000)}, replay)
        return r

    recs.append(variant(9000001, access_right="closed"))
    emb = copy.deepcopy(rdm)
    emb["id"] = "9000002"
    emb["parent"] = {**emb["parent"], "id": "9000502"}
    emb["access"]["embargo"]["active"] = True
    recs.append(emb)
    recs.append(variant(9000003, license={"id": "cc-by-nc-4.0"}))
    recs.append(variant(9000004, license={"id": "other-closed"}))
    nolic = variant(9000005)
    del nolic["metadata"]["license"]
    recs.append(nolic)
    slip = variant(9000006)
    _set_files_legacy(slip, base, {"evil.zip": zip_bytes({"../../escape.wav": wav1})}, replay)
    recs.append(slip)
    bomb = variant(9000007)
    _set_files_legacy(bomb, base, {"bomb.zip": zip_bytes({"big.wav": b"\0" * (4 << 20)})}, replay)
    recs.append(bomb)
    recs.append(variant(9000008))
    _set_files_legacy(recs[-1], base, {"badsum.wav": audio_bytes("WAV", freq=123)}, replay, bad_md5=True)
    for r in recs:
        r["updated"] = next(stamp)
        replay.docs[f"/api/records/{r['id']}"] = r
    replay.zenodo_records = recs
    return {"legacy": legacy, "cc0": cc0, "rdm": rdm}


def build_ia_world(replay: Replay) -> None:
    base = replay.base
    test2 = rewrite(load("internet_archive/ia_metadata_test2_audio_opensource_podcast_ccby20.json"), base)
    mp3 = audio_bytes("MP3", seconds=0.5)
    for f in test2["files"]:
        if f["name"] == "AudacityTest003.mp3":
            f.update(md5=md5(mp3), size=str(len(mp3)))
            replay.blobs["/download/test2/AudacityTest003.mp3"] = mp3
    replay.docs["/metadata/test2"] = test2
    replay.docs["/metadata/nasa"] = load("internet_archive/ia_metadata_nasa_collection_item_nolicense.json")
    lma = copy.deepcopy(test2)
    lma["metadata"].update(identifier="gd1977-05-08", collection=["etree", "GratefulDead"])
    replay.docs["/metadata/gd1977-05-08"] = lma
    # a lossless original next to its mp3 derivative: the FLAC must win
    flac = audio_bytes("FLAC", seconds=0.3)
    ll = copy.deepcopy(test2)
    ll["metadata"].update(
        identifier="lossless-item", licenseurl="https://creativecommons.org/publicdomain/zero/1.0/"
    )
    ll["files"] = [
        {
            "name": "take.flac",
            "source": "original",
            "format": "Flac",
            "md5": md5(flac),
            "size": str(len(flac)),
            "length": "00:00",
        },
        {
            "name": "take.mp3",
            "source": "derivative",
            "original": "take.flac",
            "format": "VBR MP3",
            "md5": "1" * 32,
            "size": "10",
        },
        {"name": "lossless-item_meta.xml", "source": "metadata", "format": "Metadata"},
    ]
    replay.blobs["/download/lossless-item/take.flac"] = flac
    replay.docs["/metadata/lossless-item"] = ll
    scrape = load("internet_archive/ia_scrape_collection_nasa_identifiers.json")
    idents = ["test2", "nasa", "gd1977-05-08", "lossless-item"] + [
        i["identifier"] for i in scrape["items"][:3]
    ]
    replay.ia_items = [{"identifier": i, "updated": "2024-01-01T00:00:00Z"} for i in idents]
