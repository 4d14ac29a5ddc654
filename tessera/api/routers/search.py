"""Search by sound (upload, items, segments, several examples, negatives) combined with filters."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Message, Receive

from tessera.api.auth import address
from tessera.api.deps import IndexesDep, Page, SearchStoreDep, get_catalog, get_settings, next_url, paginated
from tessera.api.errors import problems
from tessera.api.filters import FiltersDep
from tessera.api.routers.items import SpaceName, protocols
from tessera.api.schemas import DbId, item_out
from tessera.api.schemas.items import SearchAnswer, SearchHit
from tessera.catalog.protocols import ProtocolLabelRecord
from tessera.indexer.similarity import IndexSet
from tessera.search.errors import UploadTooLarge
from tessera.search.filters import Filters
from tessera.search.query import (
    DEFAULT_LAMBDA,
    SearchPage,
    build_query,
    explain_page,
    search,
    upload_vector,
)
from tessera.search.query import Query as SearchQuery
from tessera.search.sandbox import DecodeSandbox
from tessera.search.store import SearchStore

router = APIRouter(prefix="/api", tags=["search"])

# room for the multipart boundary, part headers and the small form fields around the file
MULTIPART_OVERHEAD = 64 * 1024


Ids = Annotated[list[DbId], Query(max_length=20)]
Paged = Annotated[Page, paginated(default=20, max_offset=10**6)]


def _too_large(limit: int, seen: int | None = None) -> UploadTooLarge:
    size = f"{seen} bytes or more" if seen is not None else "larger than allowed"
    return UploadTooLarge(f"the upload is {size}; the limit is {limit} bytes", limit=limit)


def _capped(receive: Receive, limit: int, body_limit: int) -> Receive:
    """A receive that stops the body at ``body_limit`` bytes, whatever Content-Length claimed."""
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > body_limit:
                raise _too_large(limit, seen)
        return message

    return capped


class UploadLimitRoute(APIRoute):
    """Enforce the upload limit before and while the multipart body is read, not after it is spooled.

    FastAPI parses the form before the endpoint (or any dependency) runs, so the check sits in the
    route handler: a declared Content-Length above the limit is refused at once, and a body that
    turns out longer (chunked, or lying) is cut off when it crosses the limit.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def limited(request: Request) -> Response:
            limit = get_settings(request).max_upload_bytes
            body_limit = limit + MULTIPART_OVERHEAD
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > body_limit:
                raise _too_large(limit, int(declared))
            capped = Request(request.scope, _capped(request.receive, limit, body_limit), request._send)
            # a client's place in the upload gate is taken before its body is read: a flood from one
            # address is refused without the server parsing megabytes of multipart for it
            sandbox: DecodeSandbox = request.app.state.sandbox
            try:
                with sandbox.admitted(address(request)):
                    return await handler(capped)
            except HTTPException as exc:
                # FastAPI turns any failure while parsing the body into a 400; ours is a 413
                if isinstance(exc.__cause__, UploadTooLarge):
                    raise exc.__cause__ from None
                raise

        return limited


def _answer(request: Request, store: SearchStore, result: SearchPage, limit: int, offset: int,
            query: dict[str, Any], whys: list[str | None] | None = None) -> SearchAnswer:
    rows = store_items(request, [h.file_id for h in result.hits])
    quality = store.quality_of([h.file_id for h in result.hits])
    prot = protocols(request, list(rows))
    items = hits_out(result, whys, rows, quality, prot)
    return SearchAnswer(items=items, total=result.total, limit=limit, offset=offset,
                        next=next_url(request, len(items), result.total, limit, offset), query=query)


def hits_out(result: SearchPage, whys: list[str | None] | None, rows: dict[int, Any],
             quality: dict[int, dict[str, Any]], prot: dict[int, list[ProtocolLabelRecord]]) -> list[SearchHit]:
    """The hits of a search page as the API answers them (``tessera search --json`` prints the same)."""
    items = []
    for h, why in zip(result.hits, whys or [None] * len(result.hits), strict=True):
        row = rows.get(h.file_id)
        if row is None:
            continue  # withdrawn between ranking and reading
        items.append(SearchHit(item=item_out(row, quality=quality.get(h.file_id), protocol=prot),
                               distance=h.distance, score=h.score, why=why, segment_id=h.segment_id,
                               start=h.start, end=h.end))
    return items


def store_items(request: Request, ids: list[int]) -> dict[int, Any]:
    items: dict[int, Any] = get_catalog(request).get_items(ids)
    return items


def _run(request: Request, store: SearchStore, indexes: IndexSet, flt: Filters, q: SearchQuery,
         space: str, limit: int, offset: int) -> SearchAnswer:
    idx = indexes.space(space) if q.positives else None
    result = search(store, idx, q, flt, limit, offset)
    whys = explain_page(idx, q, result.hits) if idx is not None else None
    return _answer(request, store, result, limit, offset, {**q.described, "space": space}, whys)


@router.get("/search", summary="Search by items or segments (or browse with filters only)",
            responses=problems(403, 404, 409))
def search_get(
    request: Request,
    store: SearchStoreDep,
    indexes: IndexesDep,
    flt: FiltersDep,
    pg: Paged,
    item: Ids = [],  # noqa: B006
    segment: Ids = [],  # noqa: B006
    not_item: Ids = [],  # noqa: B006
    not_segment: Ids = [],  # noqa: B006
    space: Annotated[SpaceName, Query()] = "all",
    lam: Annotated[float, Query(ge=0, le=2, alias="lambda", description="weight of 'less like that'")] = DEFAULT_LAMBDA,
) -> SearchAnswer:
    q = build_query(store, item, segment, not_item, not_segment, lam=lam)
    return _run(request, store, indexes, flt, q, space, pg.limit, pg.offset)


async def search_upload(
    request: Request,
    store: SearchStoreDep,
    indexes: IndexesDep,
    flt: FiltersDep,
    file: Annotated[UploadFile, File(description="WAV, FLAC, Ogg/Opus, MP3, AIFF or M4A")],
    pg: Paged,
    item: Ids = [],  # noqa: B006
    not_item: Ids = [],  # noqa: B006
    space: Annotated[SpaceName, Query()] = "all",
    lam: Annotated[float, Query(ge=0, le=2, alias="lambda")] = DEFAULT_LAMBDA,
) -> SearchAnswer:
    limit, offset = pg.limit, pg.offset
    settings = get_settings(request)
    limit_bytes = settings.max_upload_bytes
    data = await file.read(limit_bytes + 1)  # never hold more than the limit in memory
    from starlette.concurrency import run_in_threadpool

    # the route (UploadLimitRoute) holds this client's admission already
    vec = await run_in_threadpool(upload_vector, data, limit_bytes, settings.max_upload_seconds,
                                  request.app.state.sandbox, None)
    q = await run_in_threadpool(build_query, store, item, None, not_item, None, [vec], lam)
    return await run_in_threadpool(_run, request, store, indexes, flt, q, space, limit, offset)


router.add_api_route("/search", search_upload, methods=["POST"], route_class_override=UploadLimitRoute,
                     response_model=SearchAnswer, responses=problems(400, 403, 404, 409, 413, 415, 503),
                     summary="Search by an uploaded recording (multipart field 'file'), with filters")
