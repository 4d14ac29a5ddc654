"""The human-readable texts of an export: DATASHEET.md, ATTRIBUTION.md and README.md.

Members the exporter may not see, or whose consent was withdrawn or lapsed, are counted here, never
described: no title, creator or source of a hidden member appears in any text.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from tessera.datasets.export_links import Links
from tessera.datasets.licence_summary import LicenceSummary
from tessera.datasets.store import ExportBundle, ExportMember

LEFT_OUT_WHY = {
    "withdrawn": "consent withdrawn by the rights holder or taken down at the source",
    "lapsed": "the consent period the rights holder gave has ended",
    "restricted": "restricted by a community's cultural protocol label to people outside this export",
}


def left_out(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Members not distributed, counted by status (withdrawn, lapsed, restricted)."""
    out: dict[str, int] = {}
    for r in rows:
        if r["status"] != "active":
            out[r["status"]] = out.get(r["status"], 0) + 1
    return out


def left_out_text(counts: dict[str, int]) -> str:
    if not counts:
        return "No member was left out."
    parts = [f"{n} {status} ({LEFT_OUT_WHY.get(status, status)})" for status, n in sorted(counts.items())]
    return (f"{sum(counts.values())} member(s) left out: {'; '.join(parts)}. They are listed in the manifest by "
            "item id and status only, with no audio or description, so that copies fetched from earlier "
            "versions can be deleted.")


def attribution_md(b: ExportBundle, active: list[ExportMember]) -> str:
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


def links_text(links: Links, rows: list[dict[str, Any]]) -> str:
    """Where the fetch script downloads from, said plainly (datasheet and README)."""
    active = [r for r in rows if r["status"] == "active"]
    kinds: dict[str | None, int] = {}
    for r in active:
        kinds[r.get("url_kind")] = kinds.get(r.get("url_kind"), 0) + 1
    parts = []
    if kinds.get("source"):
        parts.append(f"{kinds['source']} from their source archive's own download URL")
    if kinds.get("server"):
        parts.append(f"{kinds['server']} from the Tessera server at {links.public_url} (`/api/items/<id>/audio`)")
    if kinds.get("file"):
        parts.append(f"{kinds['file']} from `file://` paths on the machine that made this export (usable there "
                     "only)")
    if kinds.get(None):
        why = ("the exporting server had no public URL (TESSERA_PUBLIC_URL) and no `file://` links were asked "
               "for" if not links.public_url and not links.file_urls else "see the note column")
        parts.append(f"{kinds[None]} have no download URL: {why}")
    return "Files are fetched: " + "; ".join(parts) + "." if parts else "No file to fetch."


def datasheet(b: ExportBundle, rows: list[dict[str, Any]], summary: LicenceSummary, links: Links) -> str:
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
    counts = left_out(rows)
    protocol = sorted({p for r in active for p in r.get("protocol_labels") or []} | set(b.protocol_labels))
    page = links.dataset_page(b.dataset_id)

    def kv(d: dict[str, int]) -> str:
        return ", ".join(f"{k}: {v}" for k, v in sorted(d.items())) or "none"

    return f"""# Datasheet — {b.name}

Version {b.version} of dataset `{b.slug}`, made {b.version_created_at.isoformat()} by {b.created_by or 'unknown'}.
Following *Datasheets for Datasets* (Gebru et al.).{f' Online: {page}' if page else ''}

## Motivation
{b.description or 'Not stated by the curator.'}

## Composition
- {len(rows)} members: {len(active)} available, {segs} of them segments of longer recordings,
  {counts.get('withdrawn', 0)} withdrawn, {counts.get('lapsed', 0)} lapsed,
  {counts.get('restricted', 0)} restricted by a community's cultural protocol.
- {left_out_text(counts)}
- Total duration of available members: {dur:.1f} s.
- Sources: {kv(sources)}.
- Licences: {kv(summary.counts)}. {summary.summary}
- Quality flags raised by the indexer: {kv(flags)}.
- Each instance is an audio file (or a time range of one) with its download URL, MD5, licence and attribution
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
Distributed as a manifest of download URLs and MD5 checksums with `fetch.py` (plain Python 3), which downloads
every available file and verifies its checksum; audio is bundled only where each licence allows.
{links_text(links, rows)}
See ATTRIBUTION.md and LICENCES.json.

## Maintenance
Curator notes: {b.notes or 'none'}. Version notes: {b.version_notes or 'none'}.
Consent can be withdrawn at any time and can lapse: withdrawn and lapsed members are listed by id in later
exports and must be deleted by users. Old versions remain reproducible from their manifests.
"""


def readme(b: ExportBundle, summary: LicenceSummary, links: Links, rows: list[dict[str, Any]]) -> str:
    page = links.dataset_page(b.dataset_id)
    return (f"# {b.name} — version {b.version}\n\n{b.description or ''}\n\n"
            + (f"Online: {page}\n\n" if page else "")
            + "Run `python fetch.py` to download every file into `audio/` and verify its MD5 checksum, then\n"
            "`datasets.load_dataset(\"audiofolder\", data_dir=\".\")` loads it. If the server asks for an API key,\n"
            "set TESSERA_API_KEY (sent only to that server). `python fetch.py --help` lists the options.\n\n"
            f"{links_text(links, rows)}\n\nLicences: {summary.summary}\n"
            f"Exported {datetime.now(UTC).isoformat(timespec='seconds')}.\n")
