"""End to end: crawl Zenodo and the Internet Archive through the real CLI against the replay server,
index what was harvested with `tessera index`, then read it all back through the real API app.

Everything runs for real: the `tessera` command line in subprocesses (environment-configured, as a
user runs it), the SQLite catalogue in a temp dir, essentia and faiss in the indexer, and the FastAPI
app built by ``create_app(settings)``. Only the network is replayed (tests/crawlers/conftest.py).
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import soundfile as sf
from fastapi.testclient import TestClient

from tessera.api.app import create_app
from tessera.compose import build
from tessera.core.settings import Settings

from .conftest import (
    REPO,
    ZENODO_WORLD_REJECTED,
    Replay,
    _set_files_legacy,
    audio_bytes,
    build_ia_world,
    build_zenodo_world,
    md5,
)

SUMMARY = re.compile(
    r"^(?P<source>zenodo|internet_archive): seen (?P<seen>\d+), harvested (?P<harvested>\d+) .*?"
    r"rejected (?P<rejected_total>\d+) \((?P<rejected>[^)]*)\), "
    r"files rejected (?P<files_rejected_total>\d+) \((?P<files_rejected>[^)]*)\), "
    r"files downloaded (?P<files_downloaded>\d+) \((?P<bytes>\d+) bytes\),.* errors (?P<errors>\d+)$",
    re.M,
)


def _env(data: Path, replay: Replay) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env.update(
        TESSERA_DATA_DIR=str(data),
        TESSERA_ZENODO_URL=replay.base,
        TESSERA_IA_URL=replay.base,
        OMP_NUM_THREADS="1",
        COLUMNS="200",  # rich wraps long lines to the terminal width otherwise
    )
    return env


def tessera(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        [sys.executable, "-m", "tessera.cli", *args],
        env=env,
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, f"tessera {' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr[-3000:]}"
    return p


def parse_summary(stdout: str) -> dict[str, Any]:
    found = list(SUMMARY.finditer(stdout))
    assert len(found) == 1, f"no single summary line in:\n{stdout}"
    m = found[0]
    by_reason = ("rejected", "files_rejected")
    out: dict[str, Any] = {k: int(v) for k, v in m.groupdict().items() if k not in ("source", *by_reason)}
    out["source"] = m["source"]
    for key in by_reason:
        out[key] = {}
        if m[key] != "none":
            for part in m[key].split(", "):
                reason, n = part.split(": ")
                out[key][reason] = int(n)
    return out


def add_zenodo_extras(replay: Replay, world: dict[str, Any]) -> None:
    """Two more records on top of the shared world: an ND licence (restricted, harvested), and a record
    whose second file never matches its checksum (the record is harvested, that one file is rejected)."""
    base = replay.base
    legacy = world["legacy"]

    def record(recid: int, licence: str, files: dict[str, tuple[bytes, bool]]) -> dict[str, Any]:
        r = copy.deepcopy(legacy)
        r.update(id=recid, conceptrecid=str(recid + 500))
        r["metadata"].update(title=f"extra {recid}", license={"id": licence})
        _set_files_legacy(r, base, {n: d for n, (d, _ok) in files.items()}, replay,
                          bad=frozenset(n for n, (_d, ok) in files.items() if not ok))
        r["updated"] = f"2024-02-{recid % 100:02d}T10:00:00.000000+00:00"
        replay.docs[f"/api/records/{recid}"] = r
        return r

    replay.zenodo_records += [
        record(9000009, "cc-by-nd-4.0", {"nd.wav": (audio_bytes("WAV", freq=910), True)}),
        record(
            9000010,
            "cc-by-4.0",
            {
                "good.wav": (audio_bytes("WAV", freq=1010), True),
                "damaged.wav": (audio_bytes("WAV", freq=1110), False),
            },
        ),
    ]


def own_identities(replay: Replay) -> None:
    """The shared world's variants are copies of the 2022 record and keep its DOI and links: give each its
    own, as Zenodo does, so that an answer naming the wrong record's DOI cannot pass."""
    for r in replay.zenodo_records:
        recid = str(r["id"])
        if "doi" in r and recid != "7248153" and r["doi"] == "10.5281/zenodo.7248153":
            doi = f"10.5281/zenodo.{recid}"
            r["doi"] = r["metadata"]["doi"] = doi
            r["links"] = {
                **r["links"],
                "doi": f"https://doi.org/{doi}",
                "html": f"{replay.base}/records/{recid}",
                "self": f"{replay.base}/api/records/{recid}",
            }


def match_ia_lengths(replay: Replay) -> None:
    """The shared IA world serves a short generated tone under the recorded metadata, whose ``length``
    (148.97 s) is the real podcast's. The archive computes ``length`` from the file it serves, so make it
    say what the served audio lasts (else the indexer rightly calls the file truncated)."""
    for ident in ("test2",):
        for f in replay.docs[f"/metadata/{ident}"]["files"]:
            blob = replay.blobs.get(f"/download/{ident}/{f['name']}")
            if blob is not None:
                f["length"] = f"{sf.info(io.BytesIO(blob)).duration:.2f}"


def expected_md5s(replay: Replay, file_url: str, filename: str) -> str:
    """The md5 of what the replay server serves at ``file_url`` (of the member, for an archive)."""
    blob = replay.blobs[urlsplit(file_url).path]
    if ".zip/" in filename:
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            return md5(zf.read(filename.split(".zip/", 1)[1]))
    return md5(blob)


def test_crawl_index_and_serve_end_to_end(tmp_path: Path, replay: Replay) -> None:
    world = build_zenodo_world(replay)
    add_zenodo_extras(replay, world)
    own_identities(replay)
    build_ia_world(replay)
    match_ia_lengths(replay)
    data = tmp_path / "data"
    env = _env(data, replay)

    # (a) crawl both sources through the real CLI; the summary line says what happened
    zen = tessera(env, "crawl", "zenodo", "--time-scale", "60")
    ia = tessera(env, "crawl", "ia", "--time-scale", "50")
    zs, iis = parse_summary(zen.stdout), parse_summary(ia.stdout)
    print("\n" + zen.stdout + ia.stdout)
    assert zs["source"] == "zenodo" and iis["source"] == "internet_archive"
    assert zs["seen"] == 16 and zs["harvested"] == 6 and zs["errors"] == 0
    assert zs["rejected"] == ZENODO_WORLD_REJECTED
    assert zs["rejected_total"] == sum(zs["rejected"].values())
    assert iis["seen"] == 7 and iis["harvested"] == 2 and iis["errors"] == 0
    assert iis["rejected"] == {"live_music_archive": 1, "no_licence": 1, "not_found": 3}
    for s in (zs, iis):
        assert s["files_downloaded"] > 0 and s["bytes"] > 0
    served = {path: len(b) for path, b in replay.blobs.items()}
    downloads = [r[1] for r in replay.requests() if r[1] in served and r[3] == 200]
    assert zs["bytes"] + iis["bytes"] == sum(served[p] for p in downloads)
    assert zs["files_downloaded"] + iis["files_downloaded"] == len(downloads)

    # (b) index what was harvested
    idx = tessera(env, "index", "--workers", "1", "--json")
    rep = json.loads(idx.stdout)
    assert rep["failed"] == 0 and rep["indexed"] == rep["total"] > 0, rep

    # (c) every harvested item, through the API
    settings = Settings(data_dir=data, zenodo_url=replay.base, ia_url=replay.base)
    with TestClient(create_app(build(settings))) as api:
        listing = api.get("/api/items", params={"limit": 50})
        assert listing.status_code == 200, listing.text
        items = listing.json()["items"]
        assert listing.json()["total"] == len(items)
        by_source: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for it in items:
            by_source.setdefault((it["source"]["kind"], it["source"]["identifier"]), []).append(it)
        assert {k: sorted(i["filename"] for i in v) for k, v in by_source.items()} == {
            ("zenodo", "7248153"): ["recordings.zip/a/one.wav", "recordings.zip/a/two.wav"],
            ("zenodo", "6515860"): ["tone.flac"],
            ("zenodo", "2867216"): [
                "26_29_09_2017_KCL.zip/26_29_09_2017_KCL/ReadText/HC/ID00_hc_0_0_0.wav",
                "26_29_09_2017_KCL.zip/26_29_09_2017_KCL/ReadText/PD/ID02_pd_1_2_1.wav",
            ],
            ("zenodo", "9000003"): ["take9000003.wav"],
            ("zenodo", "9000009"): ["nd.wav"],
            ("zenodo", "9000010"): ["good.wav"],
            ("internet_archive", "test2"): ["AudacityTest003.mp3"],
            ("internet_archive", "lossless-item"): ["take.flac"],
        }
        spdx = {
            "7248153": "CC-BY-4.0",
            "6515860": "CC0-1.0",
            "2867216": "CC-BY-4.0",
            "9000003": "CC-BY-NC-4.0",
            "9000009": "CC-BY-ND-4.0",
            "9000010": "CC-BY-4.0",
            "test2": "CC-BY-2.0",
            "lossless-item": "CC0-1.0",
        }
        for listed in items:
            r = api.get(f"/api/items/{listed['id']}")
            assert r.status_code == 200, r.text
            it = r.json()
            src, lic = it["source"], it["licence"]
            ident = src["identifier"]
            # licence: normalised SPDX id, its deed, and NC/ND flagged as restricted with what they forbid
            assert lic["spdx"] == spdx[ident], (ident, lic)
            assert lic["url"].startswith("https://creativecommons.org/"), lic
            restricted = "-NC" in lic["spdx"] or "-ND" in lic["spdx"]
            assert lic["restricted"] is restricted and lic["open"] is not restricted, lic
            assert lic["requires"]["non_commercial"] is ("-NC" in lic["spdx"])
            assert lic["requires"]["no_derivatives"] is ("-ND" in lic["spdx"])
            assert bool(lic["forbids"]) is restricted, lic
            # attribution: one TASL line naming the title, the source and the licence
            att = it["attribution"]
            assert att.startswith(f'"{it["title"]}"') and lic["url"] in att, att
            assert lic["spdx"] in att or lic["name"] in att, att
            # source: where it came from, pointing at the (replayed) archive
            assert src["file_url"] and src["file_url"].startswith(replay.base), src
            if src["kind"] == "zenodo":
                assert src["doi"] == f"10.5281/zenodo.{ident}", src
                # the record page as the source links it (the 2022 shape still says /record/N)
                assert re.fullmatch(rf"{re.escape(replay.base)}/records?/{ident}", src["page_url"] or ""), src
            else:
                assert src["kind"] == "internet_archive"
                assert src["file_url"] == f"{replay.base}/download/{ident}/{it['filename']}", src
                assert src["page_url"] == f"{replay.base}/details/{ident}", src
            # md5 of the bytes the archive serves (of the member, for an archive)
            assert it["md5"] == expected_md5s(replay, src["file_url"], it["filename"]), it["filename"]
            # indexed, with features
            assert it["status"] == "indexed", it
            assert it["features"] and it["extractor_version"], it["filename"]
            # and its neighbours by sound
            sim = api.get(f"/api/items/{it['id']}/similar", params={"k": 5})
            assert sim.status_code == 200, sim.text
            neighbours = sim.json()["items"]
            assert neighbours and all(n["item"]["id"] != it["id"] for n in neighbours)
            assert {n["item"]["id"] for n in neighbours} <= {i["id"] for i in items}
            assert all(n["item"]["licence"]["spdx"] and n["item"]["md5"] for n in neighbours)

        # (d) what was rejected, and why: the CLI and the API agree with each other and with the summaries
        cli_rej = json.loads(tessera(env, "rejected", "--json", "--limit", "50").stdout)
        api_rej = api.get("/api/rejected", params={"limit": 50})
        assert api_rej.status_code == 200, api_rej.text
        api_body = api_rej.json()

    def rows(body: dict[str, Any]) -> set[tuple[str, str, str | None, str]]:
        return {(r["kind"], r["identifier"], r["filename"] or None, r["reason"]) for r in body["items"]}

    assert cli_rej["total"] == api_body["total"] == len(cli_rej["items"]) == len(api_body["items"])
    assert rows(cli_rej) == rows(api_body)
    assert all(r["detail"] for r in api_body["items"])
    records = {(k, i, reason) for k, i, f, reason in rows(api_body) if f is None}
    files = {(k, i, f, reason) for k, i, f, reason in rows(api_body) if f is not None}
    # one record-level row per rejected record, with the reason the summary counted
    for summary, kind in ((zs, "zenodo"), (iis, "internet_archive")):
        counted: dict[str, int] = {}
        for k, _, reason in records:
            if k == kind:
                counted[reason] = counted.get(reason, 0) + 1
        assert counted == summary["rejected"], (kind, counted, summary["rejected"])
    assert {
        ("zenodo", "9000001", "access_closed"),
        ("zenodo", "9000002", "access_embargoed"),
        ("zenodo", "9000004", "licence_not_open"),
        ("zenodo", "9000005", "no_licence"),
        ("zenodo", "9000006", "unsafe_archive"),
        ("zenodo", "9000007", "unsafe_archive"),
        ("zenodo", "9000008", "checksum_mismatch"),
        ("internet_archive", "nasa", "no_licence"),
        ("internet_archive", "gd1977-05-08", "live_music_archive"),
    } <= records
    # harvested records (NC/ND included) are not listed as rejected
    assert not {i for _, i, _ in records} & {"9000003", "9000009", "9000010", "test2", "lossless-item"}
    # one row per refused file, with the reasons the summary counted for files, among them the file that
    # never matched its checksum in a record that was otherwise harvested
    for summary, kind in ((zs, "zenodo"), (iis, "internet_archive")):
        counted: dict[str, int] = {}
        for k, _, _, reason in files:
            if k == kind:
                counted[reason] = counted.get(reason, 0) + 1
        assert counted == summary["files_rejected"], (kind, counted, summary["files_rejected"])
        assert summary["files_rejected_total"] == sum(counted.values())
    assert ("zenodo", "9000010", "damaged.wav", "checksum_mismatch") in files
    assert zs["files_rejected"] == {"checksum_mismatch": 2, "unsafe_archive": 2}
