"""Zenodo: records search (incremental by ``updated``, sorted updated-asc) and record fetch.

Accepts the three JSON shapes Zenodo has served: legacy (2022, ``metadata.license.id``), today's
default application/json (lower-case licence ids such as ``cc-zero``, files[].links.self ending
/content) and InvenioRDM-native (``metadata.rights[]``, ``files.entries``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tessera.crawlers.errors import MalformedRecord
from tessera.crawlers.http import Download, PoliteClient, SlidingWindowLimiter
from tessera.crawlers.sources.base import Listed, Rejection, Source, SourceFile, SourceItem, strip_html

KIND = "zenodo"


def _licence_of(md: dict[str, Any]) -> str | None:
    lic = md.get("license")
    if isinstance(lic, dict):
        return lic.get("id") or lic.get("url") or lic.get("title")
    if isinstance(lic, str) and lic.strip():
        return lic
    for r in md.get("rights") or []:
        if not isinstance(r, dict):
            continue
        props = r.get("props") or {}
        title = r.get("title")
        value = (
            r.get("id")
            or props.get("url")
            or r.get("link")
            or (title.get("en") if isinstance(title, dict) else title)
        )
        if value:
            return str(value)
    return None


def _rejection(d: dict[str, Any], md: dict[str, Any]) -> Rejection | None:
    ar = md.get("access_right")
    if ar and ar != "open":
        return Rejection(f"access_{ar}", f"access_right is {ar!r}")
    access = d.get("access")
    if isinstance(access, dict):
        if (access.get("embargo") or {}).get("active"):
            return Rejection("access_embargoed", "the record is under embargo")
        for part in ("record", "files"):
            if access.get(part) not in (None, "public"):
                return Rejection("access_restricted", f"access.{part} is {access.get(part)!r}")
    if (d.get("deletion_status") or {}).get("is_deleted"):
        return Rejection("deleted", "the record was deleted at the source")
    return None


def _orcid(c: dict[str, Any]) -> str | None:
    """A creator's ORCID in the legacy shape (orcid) or the InvenioRDM one (person_or_org.identifiers)."""
    if c.get("orcid"):
        return str(c["orcid"])
    for ident in (c.get("person_or_org") or {}).get("identifiers") or []:
        if ident.get("scheme") == "orcid" and ident.get("identifier"):
            return str(ident["identifier"])
    return None


def _creators(md: dict[str, Any]) -> str | None:
    names = []
    for c in md.get("creators") or []:
        name = c.get("name") or (c.get("person_or_org") or {}).get("name")
        if name:
            names.append(str(name))
    return "; ".join(names) or None


def files_of(d: dict[str, Any]) -> list[SourceFile] | None:
    """The record's files, or None if this JSON does not list them (then fetch the record or its files)."""
    raw = d.get("files")
    if isinstance(raw, dict):
        entries = raw.get("entries")
        if isinstance(entries, dict):
            items = list(entries.values())
        elif isinstance(entries, list):
            items = entries
        else:
            return None if raw.get("enabled", True) else []
    elif isinstance(raw, list):
        items = raw
    elif "entries" in d:  # /api/records/{id}/files
        items = d["entries"]
    else:
        return None
    out = []
    for f in items:
        links = f.get("links") or {}
        # RDM: links.self is the file's metadata, links.content its bytes; legacy: links.self is the bytes
        url = links.get("content") or links.get("download") or links.get("self")
        name = f.get("key") or f.get("filename")
        if not url or not name:
            continue
        checksum = str(f.get("checksum") or "")
        md5 = checksum[4:] if checksum.startswith("md5:") else None
        size = f.get("size") if f.get("size") is not None else f.get("filesize")
        out.append(
            SourceFile(
                filename=str(name),
                url=str(url),
                size=int(size) if size is not None else None,
                md5=md5,
                format=str(name).rsplit(".", 1)[-1].lower(),
            )
        )
    return out


def parse_record(d: dict[str, Any], base_url: str) -> SourceItem:
    """A Zenodo record (any of the three shapes) as a SourceItem; MalformedRecord if it is none of them."""
    try:
        return _parse_record(d, base_url)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a field of an unexpected type
        raise MalformedRecord(f"Zenodo record {d.get('id')!r} is malformed: {type(exc).__name__}: {exc}") from exc


def _parse_record(d: dict[str, Any], base_url: str) -> SourceItem:
    md = d.get("metadata") or {}
    recid = str(d.get("id") or d.get("recid"))
    links = d.get("links") or {}
    doi = d.get("doi") or md.get("doi") or ((d.get("pids") or {}).get("doi") or {}).get("identifier")
    keywords = [str(k) for k in md.get("keywords") or []]
    keywords += [
        str(s.get("subject")) for s in md.get("subjects") or [] if isinstance(s, dict) and s.get("subject")
    ]
    communities = [c.get("id") for c in md.get("communities") or [] if isinstance(c, dict)]
    return SourceItem(
        kind=KIND,
        identifier=recid,
        title=str(md.get("title") or d.get("title") or recid),
        licence=_licence_of(md),
        files=files_of(d) or [],
        rejection=_rejection(d, md),
        creator=_creators(md),
        description=strip_html(md.get("description")),
        keywords=keywords,
        doi=doi,
        page_url=links.get("html") or links.get("self_html") or f"{base_url.rstrip('/')}/records/{recid}",
        version=md.get("version"),
        source_updated=d.get("updated") or d.get("modified"),
        # recids grow with each new version; conceptrecid (legacy) or parent.id (RDM) names the work
        concept=str(d.get("conceptrecid") or (d.get("parent") or {}).get("id") or "") or None,
        version_key=int(recid) if recid.isdigit() else None,
        extra={
            "communities": communities,
            "orcids": [o for o in (_orcid(c) for c in md.get("creators") or []) if o],
            "conceptdoi": d.get("conceptdoi"),
            "publication_date": md.get("publication_date"),
        },
    )


def crawl_key(query: str | None, community: str | None, resource_type: str | None) -> str:
    return "zenodo:" + json.dumps(
        {"q": (query or "").strip(), "community": community or "", "type": resource_type or ""},
        sort_keys=True,
    )


def build_q(query: str | None, since: str | None) -> str:
    parts = []
    if query and query.strip():
        parts.append(f"({query.strip()})")
    if since:
        parts.append(f'updated:["{since}" TO *]')
    return " AND ".join(parts) or "*"


class ZenodoSource(Source):
    """Records search (sort=updated-asc, keyset paging on ``updated``) and record fetch."""

    kind = KIND

    def __init__(
        self,
        client: PoliteClient,
        search_limiter: SlidingWindowLimiter,
        base_url: str,
        page_size: int = 25,
        query: str | None = None,
        community: str | None = None,
        resource_type: str | None = None,
    ) -> None:
        super().__init__()
        self.client = client
        self.search_limiter = search_limiter
        self.base = base_url.rstrip("/")
        self.page_size = page_size
        self.query, self.community, self.resource_type = query, community, resource_type

    def state_key(self) -> str:
        return crawl_key(self.query, self.community, self.resource_type)

    def fetch(self, file: SourceFile, dest: Path, max_bytes: int) -> Download:
        return self.client.download(file.url, dest, max_bytes, expected_size=file.size)

    def fetch_record(self, recid: str) -> dict[str, Any]:
        data = self.client.get_json(f"{self.base}/api/records/{recid}")
        if not isinstance(data, dict):
            raise MalformedRecord(f"Zenodo record {recid!r} is not a JSON object")
        return data

    def record(self, listed: Listed) -> SourceItem:
        """Search hits may lack the file list: fetch the record, then its files endpoint."""
        d = listed.raw if listed.raw is not None else self.fetch_record(listed.identifier)
        try:
            if files_of(d) is None:
                d = self.fetch_record(str(d.get("id")))
                if files_of(d) is None:
                    files_url = (d.get("links") or {}).get("files") or f"{self.base}/api/records/{d.get('id')}/files"
                    d = {**d, "files": self.client.get_json(files_url)}
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise MalformedRecord(f"Zenodo record {listed.identifier!r} has malformed files: {exc}") from exc
        return parse_record(d, self.base)

    def list_records(self, state: dict[str, Any], since: str | None) -> Iterator[Listed]:
        lower = max(filter(None, [state.get("since"), since]), default=None)
        high = lower
        for hit in self._hits(lower):
            # sorted updated-asc: everything before this hit is done; the range is inclusive, so a
            # rerun after a kill redoes at most the records sharing this timestamp (idempotently)
            upd = hit.get("updated")
            if upd and (high is None or upd > high):
                high = upd
            yield Listed(str(hit.get("id")), hit, {"since": high})

    def _hits(self, since: str | None) -> Iterator[dict[str, Any]]:
        """Every record updated since ``since``, oldest update first, each (id, updated) once.

        Paging by page number over ``sort=updated-asc`` skips records: one updated mid-crawl moves to
        the end and everything behind it shifts a page up. So after each page we ask again from the
        newest ``updated`` seen (keyset paging; the range is inclusive, so hits at that timestamp come
        back and are dropped by id). Only when a whole page shares one timestamp do we follow
        ``links.next`` to get past it.
        """
        lower = since
        at_lower: set[str] = set()  # ids already yielded whose updated == lower
        url: str | None = None
        while True:
            if url is None:
                params: dict[str, Any] = {
                    "q": build_q(self.query, lower),
                    "sort": "updated-asc",
                    "size": self.page_size,
                    "page": 1,
                }
                if self.community:
                    params["communities"] = self.community
                if self.resource_type:
                    params["type"] = self.resource_type
                page = self.client.get_json(f"{self.base}/api/records", params, limiters=[self.search_limiter])
            else:  # links.next carries the whole query
                page = self.client.get_json(url, None, limiters=[self.search_limiter])
            hits = (page.get("hits") or {}).get("hits") or []
            newest = lower
            for hit in hits:
                recid, upd = str(hit.get("id")), hit.get("updated")
                if upd is not None and upd == lower and recid in at_lower:
                    continue
                yield hit
                if upd is not None and (newest is None or upd > newest):
                    newest = upd
            nxt = (page.get("links") or {}).get("next")
            if not hits or not nxt:
                return
            if newest != lower:
                lower = newest
                at_lower = {str(h.get("id")) for h in hits if h.get("updated") == lower}
                url = None
            else:
                # a whole page at one timestamp: the same query's next page is the only way forward
                at_lower |= {str(h.get("id")) for h in hits}
                url = str(nxt)


SOURCE = ZenodoSource
