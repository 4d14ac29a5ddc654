"""Internet Archive: scrape API (cursor paging), metadata API and /download/.

Per track we keep one file: the original if lossless, else the best lossy original, else the best
derivative. The Live Music Archive (``etree``) is trading-permission only, not Creative Commons.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tessera.crawlers.archives import is_audio_name
from tessera.crawlers.errors import MalformedRecord, NotFoundAtSource
from tessera.crawlers.http import Download, PoliteClient
from tessera.crawlers.sources.base import Listed, Rejection, Source, SourceFile, SourceItem, strip_html

KIND = "internet_archive"
LOSSLESS = {"flac", "wav", "aiff", "aif"}
# higher is better among lossy formats of the same track
LOSSY_RANK = {"opus": 3, "ogg": 2, "m4a": 2, "mp3": 1}
SKIP_FORMATS = {"metadata", "archive bittorrent", "item tile", "columbia peaks", "spectrogram", "png"}


def parse_length(value: Any) -> float | None:
    """``length`` comes as seconds ("148.97") or as [h:]mm:ss ("02:28")."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        if ":" in text:
            secs = 0.0
            for part in text.split(":"):
                secs = secs * 60 + float(part)
            return secs
        return float(text)
    except ValueError:
        return None


def _as_list(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, list):
        return [str(x) for x in v]
    return [str(v)]


def _ext(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _bitrate(f: dict[str, Any]) -> float:
    try:
        return float(f.get("bitrate") or 0)
    except ValueError:
        return 0.0


def choose_files(files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One file per track: original lossless > original lossy (best) > derivative (best)."""
    by_name = {f.get("name"): f for f in files}
    groups: dict[str, list[dict[str, Any]]] = {}
    for f in files:
        name = str(f.get("name") or "")
        if (
            f.get("source") == "metadata"
            or str(f.get("format", "")).lower() in SKIP_FORMATS
            or name.endswith((".torrent", "_meta.xml", "_files.xml"))
            or not is_audio_name(name)
        ):
            continue
        root = f
        seen = set()
        while root.get("source") == "derivative" and root.get("original") in by_name and id(root) not in seen:
            seen.add(id(root))
            root = by_name[root["original"]]
        groups.setdefault(str(root.get("name")), []).append(f)

    def score(f: dict[str, Any]) -> tuple[int, int, int, float, int]:
        ext = _ext(str(f.get("name")))
        vbr = 1 if "vbr" in str(f.get("format", "")).lower() else 0
        return (
            int(f.get("source") == "original"),
            int(ext in LOSSLESS),
            LOSSY_RANK.get(ext, 0) * 2 + vbr,
            _bitrate(f),
            int(f.get("size") or 0),
        )

    return [max(group, key=score) for _, group in sorted(groups.items())]


def parse_item(meta: dict[str, Any], base_url: str) -> SourceItem:
    """An item's metadata document as a SourceItem; MalformedRecord if a field has an unexpected type."""
    try:
        return _parse_item(meta, base_url)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        ident = meta.get("metadata", {}).get("identifier") if isinstance(meta.get("metadata"), dict) else None
        raise MalformedRecord(f"Internet Archive item {ident!r} is malformed: {type(exc).__name__}: {exc}") from exc


def _parse_item(meta: dict[str, Any], base_url: str) -> SourceItem:
    md = meta.get("metadata") or {}
    ident = str(md.get("identifier") or "")
    base = base_url.rstrip("/")
    collections = _as_list(md.get("collection"))
    rejection: Rejection | None = None
    if "etree" in collections:
        rejection = Rejection(
            "live_music_archive",
            "the Live Music Archive allows trading, not Creative Commons reuse",
        )
    elif meta.get("is_dark"):
        rejection = Rejection("access_restricted", "the item is dark (withdrawn from public access)")
    elif md.get("access-restricted-item") in (True, "true"):
        rejection = Rejection("access_restricted", "the item is access-restricted (lending library)")
    files = []
    for f in choose_files(meta.get("files") or []):
        name = str(f["name"])
        size = f.get("size")
        files.append(
            SourceFile(
                filename=name,
                url=f"{base}/download/{quote(ident)}/{quote(name)}",
                size=int(size) if size and str(size).isdigit() else None,
                md5=f.get("md5"),
                format=_ext(name),
                duration=parse_length(f.get("length")),
                title=f.get("title"),
                creator=f.get("creator") or f.get("artist"),
            )
        )
    updated = meta.get("item_last_updated")
    subjects: list[str] = []
    for s in _as_list(md.get("subject")):
        subjects += [x.strip() for x in re.split(r"[;,]", s) if x.strip()]
    return SourceItem(
        kind=KIND,
        identifier=ident,
        title=str(md.get("title") or ident),
        licence=md.get("licenseurl"),
        files=files,
        rejection=rejection,
        creator="; ".join(_as_list(md.get("creator"))) or None,
        description=strip_html("\n".join(_as_list(md.get("description")))),
        keywords=subjects,
        page_url=f"{base}/details/{quote(ident)}",
        source_updated=datetime.fromtimestamp(int(updated), UTC).isoformat()
        if updated
        else md.get("publicdate"),
        extra={"collections": collections, "mediatype": md.get("mediatype"), "uploader": md.get("uploader")},
    )


def crawl_key(query: str | None, collection: str | None) -> str:
    return "internet_archive:" + json.dumps(
        {"q": (query or "").strip(), "collection": collection or ""}, sort_keys=True
    )


def build_q(query: str | None, collection: str | None, since: str | None) -> str:
    parts = ["mediatype:audio", "NOT collection:etree"]
    if query and query.strip():
        parts.insert(0, f"({query.strip()})")
    if collection:
        parts.append(f"collection:{collection}")
    if since:
        parts.append(f"oai_updatedate:[{since} TO *]")
    return " AND ".join(parts)


class IASource(Source):
    """The scrape API, cursor-paged in passes: a pass asks for what changed since the previous pass
    started, and a killed or limited run resumes its pass at the page and position it reached."""

    kind = KIND

    def __init__(
        self,
        client: PoliteClient,
        base_url: str,
        page_size: int = 100,
        query: str | None = None,
        collection: str | None = None,
    ) -> None:
        super().__init__()
        self.client = client
        self.base = base_url.rstrip("/")
        self.page_size = page_size
        self.query, self.collection = query, collection

    def state_key(self) -> str:
        return crawl_key(self.query, self.collection)

    def fetch(self, file: SourceFile, dest: Path, max_bytes: int) -> Download:
        return self.client.download(file.url, dest, max_bytes, expected_size=file.size)

    def record(self, listed: Listed) -> SourceItem:
        identifier = listed.identifier
        meta = self.client.get_json(f"{self.base}/metadata/{quote(identifier)}")
        if not meta or not isinstance(meta, dict) or "metadata" not in meta:
            # the metadata API answers {} for an unknown or removed identifier
            raise NotFoundAtSource(f"no item {identifier!r}", url=f"{self.base}/metadata/{identifier}")
        return parse_item(meta, self.base)

    def list_records(self, state: dict[str, Any], since: str | None) -> Iterator[Listed]:
        if "cursor" not in state:  # a fresh pass (not resuming a killed or limited one)
            lower = max(filter(None, [state.get("since"), since]), default=None)
            state.update(
                pass_since=lower,
                pass_started=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                counted=0,
                cursor=None,
                skip=0,
            )
        q = build_q(self.query, self.collection, state.get("pass_since"))
        while True:
            params: dict[str, Any] = {"q": q, "fields": "identifier", "count": self.page_size}
            if state.get("cursor"):
                params["cursor"] = state["cursor"]
            page = self.client.get_json(f"{self.base}/services/search/v1/scrape", params)
            items = page.get("items") or []
            # ``skip``: items of this page a limited (or killed) run already did
            skip = int(state.get("skip") or 0)
            for pos, it in enumerate(items):
                if pos >= skip:
                    yield Listed(str(it.get("identifier")), None, {"skip": pos + 1})
            counted = int(state.get("counted") or 0) + int(page.get("count", len(items)))
            cursor = page.get("cursor")
            if cursor:
                state.update(cursor=cursor, counted=counted, skip=0)
                continue
            total = page.get("total")
            if total is not None and counted != int(total):
                self.warnings.append(
                    f"scrape returned {counted} items but announced {total}: items changed during the crawl"
                )
            # pass complete: next run only asks for what changed since this one started
            for k in ("cursor", "counted", "pass_since", "skip"):
                state.pop(k, None)
            state["since"] = state.pop("pass_started", None)
            return


SOURCE = IASource
