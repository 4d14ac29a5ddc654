"""Items: listing, detail, similar items, audio streaming; the data dictionary and spaces."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response, StreamingResponse

from tessera.api.auth import current
from tessera.api.deps import (
    CatalogDep,
    IndexesDep,
    Paged,
    SearchStoreDep,
    get_protocols,
    get_search_store,
    get_settings,
    page,
)
from tessera.api.errors import AudioUnavailable, BadRange, NotIndexed, problems
from tessera.api.filters import FiltersDep
from tessera.api.schemas import ID_MAX, ItemDetail, ItemOut, Neighbour, PageOf, SimilarOut, item_out, segment_out
from tessera.api.schemas.items import Dictionary, SpaceOut
from tessera.catalog.protocols import ProtocolLabelRecord
from tessera.core.errors import Unauthorized
from tessera.indexer.dictionary import dictionary
from tessera.indexer.spaces import describe_spaces
from tessera.search.filters import Filters
from tessera.search.query import build_query, explain_page, search

router = APIRouter(prefix="/api", tags=["items"])

ItemId = Annotated[int, PathParam(ge=1, le=ID_MAX, description="item id")]
SpaceName = Literal["all", "timbre", "rhythm", "tonal"]
CHUNK = 256 * 1024
_AUDIO_TYPES = {".flac": "audio/flac", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".oga": "audio/ogg",
                ".opus": "audio/ogg", ".wav": "audio/wav", ".aiff": "audio/aiff", ".aif": "audio/aiff",
                ".aifc": "audio/aiff", ".m4a": "audio/mp4"}


def protocols(request: Request, ids: list[int]) -> dict[int, list[ProtocolLabelRecord]]:
    """Cultural protocol labels of these items (their own and their record's): shown wherever an item is."""
    return get_protocols(request).protocol_labels_for_items(ids)


def cache_control(request: Request, item_id: int) -> str:
    """Audio may be cached only briefly (a withdrawal must reach caches soon), and never by shared caches
    when the item is protocol-restricted or audio needs a key: a proxy would hand it to anyone."""
    settings = get_settings(request)
    restricted = settings.audio_requires_key or any(
        p.restricts for p in protocols(request, [item_id]).get(item_id, []))
    return f"{'private' if restricted else 'public'}, max-age={settings.audio_cache_seconds}"


# Audio answers: the bytes of the file in its own format (the Content-Type says which).
AUDIO_CONTENT = {t: {"schema": {"type": "string", "format": "binary"}} for t in sorted(set(_AUDIO_TYPES.values()))}


@router.get("/items", summary="List visible items (the same filters as /api/search)", responses=problems(403))
def list_items(request: Request, store: SearchStoreDep, pg: Paged, flt: FiltersDep) -> PageOf[ItemOut]:
    limit, offset = pg.limit, pg.offset
    rows, total = store.browse(flt, limit, offset)
    prot = protocols(request, [r.id for r in rows])
    return page(request, [item_out(r, protocol=prot) for r in rows], total, limit, offset)


@router.get("/items/{item_id}", response_model=ItemDetail, summary="One item with its features",
            responses=problems(404))
def get_item(request: Request, item_id: ItemId, catalog: CatalogDep) -> ItemDetail:
    f = catalog.get_item(item_id)
    feats = catalog.get_features(item_id)
    base = item_out(f, quality=feats.quality if feats else None, protocol=protocols(request, [item_id]))
    return ItemDetail(
        **base.model_dump(), features=feats.features if feats else None,
        extractor_version=feats.extractor_version if feats else None,
        segments=[segment_out(s, with_features=False) for s in catalog.get_segments(item_id)],
    )


@router.get("/items/{item_id}/similar", response_model=SimilarOut, summary="Nearest items by sound",
            responses=problems(404, 409))
def similar(
    request: Request,
    item_id: ItemId,
    catalog: CatalogDep,
    indexes: IndexesDep,
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    space: Annotated[SpaceName, Query()] = "all",
) -> SimilarOut:
    f = catalog.get_item(item_id)
    feats = catalog.get_features(item_id)
    if feats is None:
        raise NotIndexed(f"item {item_id} has no features yet (status: {f.status})",
                         item_status=f.status)
    # the one search path: item, segment and upload queries rank and filter the same way
    store = get_search_store(request)
    idx, q = indexes.space(space), build_query(store, items=[item_id])
    found = search(store, idx, q, Filters(), limit=k, offset=0)
    rows = catalog.get_items([h.file_id for h in found.hits])
    prot = protocols(request, list(rows))
    out = []
    for h, why in zip(found.hits, explain_page(idx, q, found.hits), strict=True):
        row = rows.get(h.file_id)
        if row is None:
            continue
        is_seg = h.segment_id is not None
        out.append(Neighbour(item=item_out(row, protocol=prot), distance=float(h.distance or 0.0), why=why,
                             segment_id=h.segment_id, start=h.start if is_seg else None,
                             end=h.end if is_seg else None))
    return SimilarOut(query=item_id, space=space, k=k, items=out)


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _file_iter(path: Path, start: int, length: int) -> Iterator[bytes]:
    with path.open("rb") as fh:
        fh.seek(start)
        left = length
        while left > 0:
            block = fh.read(min(CHUNK, left))
            if not block:
                break
            left -= len(block)
            yield block


@router.get("/items/{item_id}/audio", summary="Stream the audio (supports Range requests)",
            response_class=StreamingResponse,
            responses={200: {"content": AUDIO_CONTENT, "description": "the whole file"},
                       206: {"content": AUDIO_CONTENT, "description": "the requested byte range (Content-Range)"},
                       **problems(404, 416)})
def audio(
    request: Request,
    item_id: ItemId,
    catalog: CatalogDep,
    range_header: Annotated[str | None, Header(alias="range", max_length=200)] = None,
) -> Response:
    if get_settings(request).audio_requires_key and current(request).role == "anonymous":
        raise Unauthorized("full-resolution audio needs an API key on this server")
    f = catalog.get_item(item_id)
    if not f.path or not Path(f.path).is_file():
        raise AudioUnavailable(f"the audio of item {item_id} is not held here",
                       file_url=f.url)
    path = Path(f.path)
    size = path.stat().st_size
    ctype = _AUDIO_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    headers = {"Accept-Ranges": "bytes", "Cache-Control": cache_control(request, item_id)}
    if range_header:
        m = _RANGE.match(range_header.strip())
        start: int
        end: int
        if not m or (not m.group(1) and not m.group(2)):
            raise BadRange("only single byte ranges are supported", size=size)
        if m.group(1):
            start = int(m.group(1))
            end = int(m.group(2)) if m.group(2) else size - 1
        else:  # suffix range: the last N bytes
            start, end = max(0, size - int(m.group(2))), size - 1
        end = min(end, size - 1)
        if start >= size or start > end:
            raise BadRange(f"the range starts after the end of the file ({size} bytes)", size=size)
        length = end - start + 1
        headers.update({"Content-Range": f"bytes {start}-{end}/{size}", "Content-Length": str(length)})
        return StreamingResponse(_file_iter(path, start, length), status_code=206, media_type=ctype,
                                 headers=headers)
    headers["Content-Length"] = str(size)
    return StreamingResponse(_file_iter(path, 0, size), media_type=ctype, headers=headers)


@router.get("/items/{item_id}/preview", summary="A short, light preview (first 20 s, mono Ogg Vorbis); open to all",
            response_class=Response,
            responses={200: {"content": {"audio/ogg": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "the preview"}, **problems(404)})
def preview(request: Request, item_id: ItemId, catalog: CatalogDep) -> Response:
    from starlette.responses import FileResponse

    from tessera.indexer.errors import DecodeError
    from tessera.indexer.preview import make_preview, preview_path

    f = catalog.get_item(item_id)  # applies consent and protocols: a hidden item has no preview either
    dest = preview_path(get_settings(request).previews_dir, item_id)
    if not dest.is_file():
        if not f.path or not Path(f.path).is_file():
            raise AudioUnavailable(f"the audio of item {item_id} is not held here", file_url=f.url)
        try:
            make_preview(Path(f.path), dest)
        except DecodeError as exc:
            raise DecodeError(f"no preview: {exc}") from exc
    return FileResponse(dest, media_type="audio/ogg", headers={"Cache-Control": cache_control(request, item_id)})


@router.get("/features", summary="The data dictionary")
def features() -> Dictionary:
    return Dictionary.model_validate(dictionary())


@router.get("/spaces", summary="Similarity spaces and the state of their indexes")
def spaces(indexes: IndexesDep) -> PageOf[SpaceOut]:
    indexes.refresh()
    built = indexes.manifest.get("spaces", {})
    items = []
    for s in describe_spaces():
        m = built.get(s["name"], {})
        items.append(SpaceOut.model_validate(
            {**s, "index": {k: v for k, v in m.items() if k != "standardiser"} or None}))
    return PageOf(items=items, total=len(items), limit=len(items), offset=0, next=None)
