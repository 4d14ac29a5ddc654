"""croissant.json: the export described in Croissant 1.0 JSON-LD with its RAI fields.

The record set reads manifest.csv (shipped beside it). Each available audio file is a FileObject whose
``contentUrl`` is where the fetch script downloads it from (its source, or this server under its public
URL, or a ``file://`` path when asked for), with its MD5; a file with no such URL is described by its
path inside the export, where ``fetch.py`` or the bundle puts it. No placeholder URL is ever written:
without a public URL the dataset has no ``url``.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

from tessera.core.licences import licence_for_spdx
from tessera.datasets.datasheet import clustering_statement, left_out_text
from tessera.datasets.export_links import Links
from tessera.datasets.licence_summary import LicenceSummary
from tessera.datasets.store import ExportBundle

MIME = {"flac": "audio/flac", "wav": "audio/wav", "mp3": "audio/mpeg", "ogg": "audio/ogg", "opus": "audio/ogg",
        "oga": "audio/ogg", "aiff": "audio/aiff", "aif": "audio/aiff", "aifc": "audio/aiff", "m4a": "audio/mp4"}

CONTEXT: dict[str, Any] = {
    "@language": "en", "@vocab": "https://schema.org/", "sc": "https://schema.org/",
    "cr": "http://mlcommons.org/croissant/", "rai": "http://mlcommons.org/croissant/RAI/",
    "dct": "http://purl.org/dc/terms/", "citeAs": "cr:citeAs", "column": "cr:column",
    "conformsTo": "dct:conformsTo", "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"}, "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract", "field": "cr:field", "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject", "fileSet": "cr:fileSet", "format": "cr:format", "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset", "jsonPath": "cr:jsonPath", "key": "cr:key", "md5": "cr:md5",
    "parentField": "cr:parentField", "path": "cr:path", "recordSet": "cr:recordSet",
    "references": "cr:references", "regex": "cr:regex", "repeated": "cr:repeated", "replace": "cr:replace",
    "samplingRate": "cr:samplingRate", "equivalentProperty": "cr:equivalentProperty",
    "separator": "cr:separator", "source": "cr:source", "subField": "cr:subField", "transform": "cr:transform",
}


def _field(name: str, dtype: str, desc: str) -> dict[str, Any]:
    return {"@type": "cr:Field", "@id": f"members/{name}", "name": name, "description": desc,
            "dataType": dtype, "source": {"fileObject": {"@id": "manifest.csv"}, "extract": {"column": name}}}


def audio_objects(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One FileObject per available audio file (segments of one file share it)."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for r in rows:
        if r["status"] != "active" or r["file_name"] in seen:
            continue
        seen.add(r["file_name"])
        ext = r["file_name"].rsplit(".", 1)[-1].lower() if "." in r["file_name"] else ""
        obj: dict[str, Any] = {
            "@type": "cr:FileObject", "@id": r["file_name"], "name": r["file_name"],
            "description": f"item {r['file_id']}: {r['title']}",
            "contentUrl": r["url"] or r["file_name"],
            "encodingFormat": MIME.get(ext, "application/octet-stream"), "md5": r["md5"],
        }
        if r.get("size"):
            obj["contentSize"] = f"{int(r['size'])} B"
        out.append(obj)
    return out


def croissant(b: ExportBundle, rows: list[dict[str, Any]], summary: LicenceSummary, manifest_md5: str,
              links: Links, counts: dict[str, int]) -> dict[str, Any]:
    licences_urls = sorted({licence_for_spdx(s).url for s in summary.counts}) or [
        "https://creativecommons.org/publicdomain/zero/1.0/"]
    created = b.version_created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": "http://mlcommons.org/croissant/1.0",
        "name": b.slug,
        "description": b.description or f"{b.name}: a curated set of openly licensed recordings.",
    }
    page = links.dataset_page(b.dataset_id)
    if page:
        doc["url"] = page
    doc.update({
        "version": f"{b.version}.0.0",
        "datePublished": created.date().isoformat(),
        "license": licences_urls,
        "creator": {"@type": "sc:Person", "name": b.created_by or "unknown"},
        "citeAs": f"{b.name} (version {b.version}), a Tessera dataset. See ATTRIBUTION.md for every file's authors.",
        "keywords": ["audio", "sound", "open licence"],
        "rai:dataCollection": "Recordings published by their authors on open archives under per-file open "
                              f"licences, selected by a curator (origin: {json.dumps(b.origin, sort_keys=True)}).",
        "rai:dataCollectionType": "Curated selection of existing recordings",
        "rai:dataPreprocessingProtocol": "No changes to the audio; segments are start/end times of the source "
                                         "files. " + clustering_statement(b),
        "rai:dataUseCases": "Search, listening, research and model training where each file's licence allows. "
                            + summary.summary,
        "rai:dataLimitations": " ".join(summary.warnings) or "Small curated set; not representative of any "
                               "population of sounds.",
        "rai:personalSensitiveInformation": "Recordings may contain voices; consent can be withdrawn or lapse, and "
                                            "such members are listed by id only. " + left_out_text(counts),
        "distribution": [
            {"@type": "cr:FileObject", "@id": "manifest.csv", "name": "manifest.csv", "contentUrl": "manifest.csv",
             "encodingFormat": "text/csv", "md5": manifest_md5,
             "description": "One row per member: download URL, checksum, licence, attribution, segment times."},
            *audio_objects(rows),
        ],
        "recordSet": [{
            "@type": "cr:RecordSet", "@id": "members", "name": "members",
            "description": "Members of the dataset (whole files or segments).",
            "field": [
                _field("file_id", "sc:Integer", "Tessera item id"),
                _field("status", "sc:Text", "active; or withdrawn, lapsed or restricted: not distributed "
                       "(delete any copy of a withdrawn or lapsed one)"),
                _field("file_name", "sc:Text", "path of the audio file inside this folder, once fetched"),
                _field("title", "sc:Text", "title of the recording"),
                _field("creator", "sc:Text", "author"),
                _field("url", "sc:URL", "where fetch.py downloads the file from"),
                _field("md5", "sc:Text", "MD5 of the file"),
                _field("licence_spdx", "sc:Text", "SPDX licence id"),
                _field("attribution", "sc:Text", "ready-to-paste TASL attribution"),
                _field("start", "sc:Float", "segment start in seconds (empty: whole file)"),
                _field("end", "sc:Float", "segment end in seconds (empty: whole file)"),
            ],
        }],
        "isLiveDataset": False,
    })
    return doc
