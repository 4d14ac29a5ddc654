"""One export archive (a folder or a .zip) for a dataset version.

Contents: manifest.csv + manifest.jsonl, ATTRIBUTION.md, DATASHEET.md,
croissant.json (Croissant 1.0 JSON-LD with RAI fields), LICENCES.json (the
licence summary), metadata.csv (Hugging Face AudioFolder: ``file_name`` points
at ``audio/...``), fetch.py (standard-library download + MD5 check) and, only
with ``with_audio``, the audio files each licence lets us redistribute.

Link, don't rehost: by default no audio is shipped. Every URL is one a user can
fetch from elsewhere (see export_links): a source's own download URL, this
server's audio under its public URL, or ``file://`` when asked for. Withdrawn,
lapsed and restricted members are listed by id and status only, never shipped,
and counted in the datasheet.
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
from pathlib import Path
from typing import Any

from tessera.core.errors import TesseraError
from tessera.core.licences import licence_for_spdx
from tessera.datasets.croissant import croissant
from tessera.datasets.datasheet import attribution_md, datasheet, left_out, readme
from tessera.datasets.export_links import Links, locate
from tessera.datasets.licence_summary import LicenceSummary, summarise
from tessera.datasets.store import ExportBundle, ExportMember

MANIFEST_FIELDS = [
    "file_id", "status", "file_name", "title", "creator", "source_kind", "source_identifier", "doi", "page_url",
    "url", "url_kind", "md5", "size", "duration", "licence_spdx", "licence_url", "attribution", "segment_id",
    "start", "end", "quality_flags", "cluster", "cluster_run", "labels", "protocol_labels", "bundled", "note",
]
AUDIOFOLDER_FIELDS = ["file_name", "file_id", "title", "creator", "licence_spdx", "attribution", "start", "end"]


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
    left_out: dict[str, int] = field(default_factory=dict)  # members not distributed, by status
    unlinked: int = 0  # available files with no download URL (no public URL, no file:// links asked for)


def file_name(m: ExportMember) -> str:
    base = re.sub(r"[^\w.\-]+", "_", Path(m.filename or f"{m.file_id}").name, flags=re.UNICODE).strip("._") or "audio"
    return f"audio/{m.file_id}_{base}"


def _bundle_decision(m: ExportMember, with_audio: bool) -> tuple[bool, str]:
    if m.status == "restricted":
        return False, "restricted by a cultural protocol label of its community: not distributed"
    if m.status == "lapsed":
        return False, "consent period ended: not distributed"
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


def _row(m: ExportMember, bundled: bool, note: str, run_id: int | None, url_kind: str | None) -> dict[str, Any]:
    if m.status != "active":
        return {"file_id": m.file_id, "status": m.status, "segment_id": m.segment_id, "bundled": False, "note": note}
    return {
        "file_id": m.file_id, "status": m.status, "file_name": file_name(m), "title": m.title, "creator": m.creator,
        "source_kind": m.source_kind, "source_identifier": m.source_identifier, "doi": m.doi,
        "page_url": m.page_url, "url": m.url, "url_kind": url_kind, "md5": m.md5, "size": m.size,
        "duration": m.duration,
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


def export(bundle: ExportBundle, out: Path, with_audio: bool = False, links: Links | None = None) -> ExportReport:
    """Write the export to ``out``: a folder, or a zip when ``out`` ends in .zip.

    ``links`` says how local files are linked (this server's public URL, or ``file://``); without it
    they have no download URL and the export says so.
    """
    links = links or Links()
    out = Path(out)
    if out.suffix.lower() == ".zip":
        with tempfile.TemporaryDirectory(prefix="tessera-export-") as tmp:
            rep = export(bundle, Path(tmp) / bundle.slug, with_audio, links)
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
    bundled = unlinked = 0
    shown: list[ExportMember] = []
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
        public, url_kind, why = locate(m, links)  # from here on: no server path, fetchable URLs only
        if m.status == "active":
            shown.append(public)
            if url_kind is None:
                unlinked += 1
                note = why if not ok else note
        rows.append(_row(public, ok, note, bundle.clustering["run_id"] if bundle.clustering else None, url_kind))
    nd_segments = sum(1 for m in shown if m.segment_id is not None and licence_for_spdx(m.licence_spdx).no_derivatives)
    summary = summarise([m.licence_spdx for m in shown], segments_from_nd=nd_segments)
    counts = left_out(rows)

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
    (out / "ATTRIBUTION.md").write_text(attribution_md(bundle, shown), encoding="utf-8")
    (out / "DATASHEET.md").write_text(datasheet(bundle, rows, summary, links), encoding="utf-8")
    (out / "LICENCES.json").write_text(json.dumps(summary.as_dict(), indent=1), encoding="utf-8")
    doc = croissant(bundle, rows, summary, _md5(out / "manifest.csv"), links, counts)
    (out / "croissant.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    shutil.copyfile(Path(__file__).with_name("fetch.py"), out / "fetch.py")
    (out / "README.md").write_text(readme(bundle, summary, links, rows), encoding="utf-8")
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    return ExportReport(out, files, len(rows), len(rows) - len(shown), bundled, not_bundled, summary, counts,
                        unlinked)
