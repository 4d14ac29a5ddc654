"""Request-scoped access to what ``create_app`` built once: settings, catalogue, indexes."""

# no `from __future__ import annotations`: ``paginated`` builds its Query bounds from its arguments
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from tessera.catalog.settings import Settings
from tessera.catalog.store import Catalog


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_catalog(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.catalog
    return catalog


def require_editor(request: Request) -> str:
    """Writes by editors (a user key with the editor role or higher, or the bootstrap editor token)."""
    from tessera.api.auth import require

    return require("editor")(request).name


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


def paginated(default: int = 50, max_offset: int = 10**9, anonymous_cap: bool = True) -> Any:
    """The dependency giving every list endpoint its ``limit``/``offset`` pair, with the anonymous cap.

    Large pages are a scraper's tool: the public gets ``anonymous_max_page_size`` rows at most, and a
    bigger page answers 403 ``page_too_large`` (with a key it is allowed, up to ``max_page_size``).
    ``anonymous_cap=False`` only for small reference lists the public web app reads whole.
    """

    def pagination(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=200, description="page size; above the anonymous cap "
                                    "(50 by default) it needs an API key")] = default,
        offset: Annotated[int, Query(ge=0, le=max_offset)] = 0,
    ) -> Page:
        from tessera.api.auth import current
        from tessera.api.errors import ApiError

        settings = get_settings(request)
        if limit > settings.max_page_size:
            raise ApiError(422, "invalid_request", f"pages hold at most {settings.max_page_size} items",
                           max_limit=settings.max_page_size)
        cap = settings.anonymous_max_page_size
        if anonymous_cap and limit > cap and current(request).role == "anonymous":
            raise ApiError(403, "page_too_large", f"pages above {cap} items need an API key", max_limit=cap)
        return Page(limit, offset)

    return Depends(pagination)


Paged = Annotated[Page, paginated()]


def page(request: Request, items: list[Any], total: int, limit: int, offset: int) -> dict[str, Any]:
    """The list envelope every list endpoint answers with."""
    nxt = None
    if offset + len(items) < total:
        nxt = str(request.url.include_query_params(offset=offset + limit, limit=limit))
    return {"items": items, "total": total, "limit": limit, "offset": offset, "next": nxt}
