"""One export archive (a folder or a .zip) for a dataset version.

Contents: manifest.csv + manifest.jsonl, ATTRIBUTION.md, DATASHEET.md,
croissant.json (Croissant 1.0 JSON-LD with RAI fields), LICENCES.json (the
licence summary), metadata.csv (Hugging Face AudioFolder: ``file_name`` points
at ``audio/...``), fetch.py (standard-library download + MD5 check) and, only
with ``with_audio``, the audio files each licence lets us redistribute.

Link, don't rehost: by default no audio is shipped. Withdrawn members are
listed as withdrawn, with no content, and never shipped.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tessera.core.errors import TesseraError
from tessera.core.licences import licence_for_spdx
from tessera.datasets.licence_summary import LicenceSummary, summarise
from tessera.datasets.store import ExportBundle, ExportMember

MANIFEST_FIELDS = [
    "file_id", "status", "file_name", "title", "creator", "source_kind", "source_identifier", "doi", "page_url",
    "url", "md5", "size", "duration", "licence_spdx", "licence_url", "attribution", "segment_id", "start", "end",
    "quality_flags", "cluster", "cluster_run", "labels", "protocol_labels", "bundled", "note",
]
AUDIOFOLDER_FIELDS = ["file_name", "file_id", "title", "creator", "licence_spdx", "attribution", "start", "end"]
_MIME = {"flac": "audio/flac", "wav": "audio/wav", "mp3": "audio/mpeg", "ogg": "audio/ogg", "opus": "audio/ogg",
         "aiff": "audio/aiff", "aif": "audio/aiff", "m4a": "audio/mp4"}


class ExportError(TesseraError):
    code = "export_failed"


@dataclass
class ExportReport:
    path: Path
    files: list[str]
    members: int
    withdrawn: int
    bundled: int
    not_bundled: list[tuple[int, str]] = field(default_factory=list)
    licence: LicenceSummary | None = None


def file_name(m: ExportMember) -> str:
    base = re.sub(r"[^\w.\-]+", "_", Path(m.filename or f"{m.file_id}").name, flags=re.UNICODE).strip("._") or "audio"
    return f"audio/{m.file_id}_{base}"


def _bundle_decision(m: ExportMember, with_audio: bool) -> tuple[bool, str]:
    if m.status == "restricted":
        return False, "restricted by a cultural protocol label of its community: not distributed"
    if m.status != "active":
        return False, "consent withdrawn: not distributed"
    lic = licence_for_spdx(m.licence_spdx)
    if lic.no_derivatives and m.segment_id is not None:
        return False, ("ND licence: a cut segment is a derivative work; fetch the whole source file and use it "
                       "verbatim only")
    if not with_audio:
        return False, "fetch with fetch.py" if not lic.no_derivatives else "ND licence: share verbatim only"
    if not m.path or not Path(m.path).is_file():
        return False, "no local copy here; fetch with fetch.py"
    return True, "bundled verbatim" + (" (ND: share verbatim only)" if lic.no_derivatives else "")


def _row(m: ExportMember, bundled: bool, note: str, run_id: int | None) -> dict[str, Any]:
    if m.status != "active":
        return {"file_id": m.file_id, "status": m.status, "segment_id": m.segment_id, "bundled": False, "note": note}
    return {
        "file_id": m.file_id, "status": m.status, "file_name": file_name(m), "title": m.title, "creator": m.creator,
        "source_kind": m.source_kind, "source_identifier": m.source_identifier, "doi": m.doi,
        "page_url": m.page_url, "url": m.url, "md5": m.md5, "size": m.size, "duration": m.duration,
        "licence_spdx": m.licence_spdx, "licence_url": m.licence_url, "attribution": m.attribution,
        "segment_id": m.segment_id, "start": m.start, "end": m.end, "quality_flags": m.quality_flags,
        "cluster": m.cluster, "cluster_run": run_id if m.cluster else None, "labels": m.labels,
        "protocol_labels": m.protocol_labels, "bundled": bundled,
        "note": note,
    }


def _csv_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, list):
        return ";".join(map(str, v))
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def _attribution_md(b: ExportBundle, active: list[ExportMember]) -> str:
    lines = [f"# Attribution — {b.name} (version {b.version})", "",
             "Each file keeps its own licence. TASL: title, author, source, licence.", ""]
    seen = set()
    for m in active:
        if m.file_id in seen:
            continue
        seen.add(m.file_id)
        src = m.page_url or (f"https://doi.org/{m.doi}" if m.doi else None) or m.url or m.source_identifier
        lines.append(f"- **{m.title}** — author: {m.creator or 'unknown'}; source: {src}; licence: "
                     f"[{m.licence_spdx}]({m.licence_url})  \n  `{m.attribution}`")
    return "\n".join(lines) + "\n"


def clustering_statement(b: ExportBundle) -> str:
    """Which clustering run the cluster column comes from, in one paragraph (datasheet and Croissant)."""
    c = b.clustering
    if c is None:
        return "No clustering run existed at export time: the cluster column is empty."
    params = ", ".join(f"{k}={v}" for k, v in sorted(c["params"].items()) if v is not None)
    return (f"The cluster column comes from clustering run {c['run_id']} (space `{c['space']}`, extractor "
            f"`{c['extractor_version']}`, {c['items']} items, {c['clusters']} clusters, made {c['created_at']}; "
            f"parameters: {params or 'defaults'}), chosen as {c['chosen']}. Clusters are UMAP + HDBSCAN groupings "
            f"proposed from sound, written `cluster-<identity>`; identities persist across runs.")


def _datasheet(b: ExportBundle, rows: list[dict[str, Any]], summary: LicenceSummary) -> str:
    active = [r for r in rows if r["status"] == "active"]
    dur = sum(float(r["duration"] or 0) for r in active if r.get("segment_id") is None) + sum(
        float(r["end"] or 0) - float(r["start"] or 0) for r in active if r.get("segment_id") is not None)
    sources: dict[str, int] = {}
    flags: dict[str, int] = {}
    for r in active:
        sources[r["source_kind"]] = sources.get(r["source_kind"], 0) + 1
        for f in r["quality_flags"]:
            flags[f] = flags.get(f, 0) + 1
    segs = sum(1 for r in active if r.get("segment_id") is not None)
    withdrawn = sum(1 for r in rows if r["status"] == "withdrawn")
    restricted = sum(1 for r in rows if r["status"] == "restricted")
    protocol = sorted({p for r in active for p in r.get("protocol_labels") or []} | set(b.protocol_labels))

    def kv(d: dict[str, int]) -> str:
        return ", ".join(f"{k}: {v}" for k, v in sorted(d.items())) or "none"

    return f"""# Datasheet — {b.name}

Version {b.version} of dataset `{b.slug}`, made {b.version_created_at.isoformat()} by {b.created_by or 'unknown'}.
Following *Datasheets for Datasets* (Gebru et al.).

## Motivation
{b.description or 'Not stated by the curator.'}

## Composition
- {len(rows)} members: {len(active)} available, {segs} of them segments of longer recordings, {withdrawn} withdrawn,
  {restricted} restricted by a community's cultural protocol.
- Total duration of available members: {dur:.1f} s.
- Sources: {kv(sources)}.
- Licences: {kv(summary.counts)}. {summary.summary}
- Quality flags raised by the indexer: {kv(flags)}.
- Each instance is an audio file (or a time range of one) with its source URL, MD5, licence and attribution
  (manifest.csv / manifest.jsonl). No labels are imposed; community labels and clusters appear where known.

## Cultural protocols
{chr(10).join('- ' + p for p in protocol) if protocol else 'No Local Contexts labels or notices are recorded.'}
Labels that restrict use (community use only, seasonal, secret/sacred, restricted by gender) are the
communities' own terms: respect them beyond what the licence says.

## Collection process
Members were chosen by a curator in Tessera. Origin of this version: `{json.dumps(b.origin, sort_keys=True)}`.
The recordings were published by their authors on open archives (Zenodo, the Internet Archive) or added from
local folders under an open licence recorded per file; Tessera did not record them.

## Preprocessing
None applied to the audio. Features (extractor `{b.extractor_version or 'n/a'}`) were computed by Tessera for
search and quality flags only; segments are time ranges (start/end seconds) of the original files.

Clustering used: {clustering_statement(b)}

## Uses
Search, listening, teaching and research on sound; training or evaluating audio models where each licence
allows. {'; '.join(summary.forbids) + ' forbidden where the licence says so.' if summary.forbids else ''}
Warnings: {' '.join(summary.warnings) or 'none'}

## Distribution
Distributed as a manifest of source URLs and checksums with `fetch.py`; audio is bundled only where each
licence allows. See ATTRIBUTION.md and LICENCES.json.

## Maintenance
Curator notes: {b.notes or 'none'}. Version notes: {b.version_notes or 'none'}.
Consent can be withdrawn at any time: withdrawn members are listed as withdrawn in later exports and must be
deleted by users. Old versions remain reproducible from their manifests.
"""


def _croissant(b: ExportBundle, summary: LicenceSummary, manifest_md5: str, bundled_any: bool) -> dict[str, Any]:
    def fld(name: str, dtype: str, desc: str) -> dict[str, Any]:
        return {"@type": "cr:Field", "@id": f"members/{name}", "name": name, "description": desc,
                "dataType": dtype, "source": {"fileObject": {"@id": "manifest.csv"}, "extract": {"column": name}}}

    licences_urls = sorted({licence_for_spdx(s).url for s in summary.counts}) or [
        "https://creativecommons.org/publicdomain/zero/1.0/"]
    created = b.version_created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return {
        "@context": {
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
        },
        "@type": "sc:Dataset",
        "conformsTo": "http://mlcommons.org/croissant/1.0",
        "name": b.slug,
        "description": b.description or f"{b.name}: a curated set of openly licensed recordings.",
        "url": f"https://example.invalid/datasets/{b.slug}",
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
        "rai:personalSensitiveInformation": "Recordings may contain voices; consent can be withdrawn and withdrawn "
                                            "members are listed as withdrawn.",
        "distribution": [
            {"@type": "cr:FileObject", "@id": "manifest.csv", "name": "manifest.csv", "contentUrl": "manifest.csv",
             "encodingFormat": "text/csv", "md5": manifest_md5,
             "description": "One row per member: source URL, checksum, licence, attribution, segment times."},
        ],
        "recordSet": [{
            "@type": "cr:RecordSet", "@id": "members", "name": "members",
            "description": "Members of the dataset (whole files or segments).",
            "field": [
                fld("file_id", "sc:Integer", "Tessera item id"),
                fld("status", "sc:Text", "active, or withdrawn (consent withdrawn: delete it)"),
                fld("file_name", "sc:Text", "path of the audio file inside this folder, once fetched"),
                fld("title", "sc:Text", "title of the recording"),
                fld("creator", "sc:Text", "author"),
                fld("url", "sc:URL", "where the file lives at its source"),
                fld("md5", "sc:Text", "MD5 of the source file"),
                fld("licence_spdx", "sc:Text", "SPDX licence id"),
                fld("attribution", "sc:Text", "ready-to-paste TASL attribution"),
                fld("start", "sc:Float", "segment start in seconds (empty: whole file)"),
                fld("end", "sc:Float", "segment end in seconds (empty: whole file)"),
            ],
        }],
        "isLiveDataset": False,
        "sc:hasPart": [] if not bundled_any else [{"@type": "sc:MediaObject", "contentUrl": "audio/"}],
    }


def export(bundle: ExportBundle, out: Path, with_audio: bool = False) -> ExportReport:
    """Write the export to ``out``: a folder, or a zip when ``out`` ends in .zip."""
    out = Path(out)
    if out.suffix.lower() == ".zip":
        with tempfile.TemporaryDirectory(prefix="tessera-export-") as tmp:
            rep = export(bundle, Path(tmp) / bundle.slug, with_audio)
            out.parent.mkdir(parents=True, exist_ok=True)
            part = out.with_suffix(".zip.part")
            with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as zf:
                for p in sorted(rep.path.rglob("*")):
                    if p.is_file():
                        # audio is already compressed: store it
                        ctype = zipfile.ZIP_STORED if p.parent.name == "audio" else zipfile.ZIP_DEFLATED
                        zf.write(p, f"{bundle.slug}/{p.relative_to(rep.path)}", compress_type=ctype)
            part.replace(out)
            rep.path = out
            return rep
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out} exists and is not empty; choose a new folder", path=str(out))
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    not_bundled: list[tuple[int, str]] = []
    bundled = 0
    for m in bundle.members:
        ok, note = _bundle_decision(m, with_audio)
        if ok and m.path:
            dest = out / file_name(m)
            dest.parent.mkdir(exist_ok=True)
            if not dest.exists():
                shutil.copyfile(m.path, dest)
            if _md5(dest) != m.md5:  # the cached copy is not what the catalogue describes
                dest.unlink()
                ok, note = False, "local copy does not match the catalogue checksum; fetch with fetch.py"
        if ok:
            bundled += 1
        elif with_audio and m.status == "active":
            not_bundled.append((m.file_id, note))
        rows.append(_row(m, ok, note, bundle.clustering["run_id"] if bundle.clustering else None))
    active = [m for m in bundle.members if m.status == "active"]
    nd_segments = sum(1 for m in active if m.segment_id is not None and licence_for_spdx(m.licence_spdx).no_derivatives)
    summary = summarise([m.licence_spdx for m in active], segments_from_nd=nd_segments)

    with (out / "manifest.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=MANIFEST_FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow({k: _csv_value(r.get(k)) for k in MANIFEST_FIELDS})
    with (out / "manifest.jsonl").open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
    with (out / "metadata.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=AUDIOFOLDER_FIELDS)
        w.writeheader()
        for r in rows:
            if r["status"] == "active":
                w.writerow({k: _csv_value(r.get(k)) for k in AUDIOFOLDER_FIELDS})
    (out / "ATTRIBUTION.md").write_text(_attribution_md(bundle, active), encoding="utf-8")
    (out / "DATASHEET.md").write_text(_datasheet(bundle, rows, summary), encoding="utf-8")
    (out / "LICENCES.json").write_text(json.dumps(summary.as_dict(), indent=1), encoding="utf-8")
    croissant = _croissant(bundle, summary, _md5(out / "manifest.csv"), bundled > 0)
    (out / "croissant.json").write_text(json.dumps(croissant, indent=1, ensure_ascii=False), encoding="utf-8")
    shutil.copyfile(Path(__file__).with_name("fetch.py"), out / "fetch.py")
    (out / "README.md").write_text(
        f"# {bundle.name} — version {bundle.version}\n\n{bundle.description or ''}\n\n"
        f"Run `python fetch.py` to download every file into `audio/` and verify its checksum, then\n"
        f"`datasets.load_dataset(\"audiofolder\", data_dir=\".\")` loads it. Licences: {summary.summary}\n"
        f"Exported {datetime.now(UTC).isoformat(timespec='seconds')}.\n", encoding="utf-8")
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    return ExportReport(out, files, len(rows), len(rows) - len(active), bundled, not_bundled, summary)
