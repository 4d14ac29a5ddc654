"""Request-scoped access to what the composition root built once, and stores made for the request's viewer."""

# no `from __future__ import annotations`: ``paginated`` builds its Query bounds from its arguments
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request

from tessera.accounts.moderation import ModerationStore
from tessera.accounts.store import AccountStore
from tessera.api.auth import current, viewer
from tessera.api.schemas.common import PageOf
from tessera.catalog.protocols import ProtocolStore
from tessera.catalog.store import Catalog
from tessera.catalog.visibility import Viewer
from tessera.compose import Services
from tessera.consent.service import ConsentService
from tessera.core.errors import InvalidRequest, PageTooLarge
from tessera.core.settings import Settings
from tessera.crawlers.store import CrawlStore
from tessera.datasets.store import DatasetStore
from tessera.indexer.similarity import IndexSet
from tessera.search.store import SearchStore
from tessera.taxonomy.store import TaxonomyStore


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_settings(request: Request) -> Settings:
    return get_services(request).settings


def get_viewer(request: Request) -> Viewer:
    return viewer(request)


def get_catalog(request: Request) -> Catalog:
    return get_services(request).catalog(viewer(request))


def get_taxonomy(request: Request) -> TaxonomyStore:
    return get_services(request).taxonomy(viewer(request))


def get_search_store(request: Request) -> SearchStore:
    return get_services(request).search(viewer(request))


def get_datasets(request: Request) -> DatasetStore:
    return get_services(request).datasets(viewer(request))


def get_moderation(request: Request) -> ModerationStore:
    return get_services(request).moderation(viewer(request))


def get_protocols(request: Request) -> ProtocolStore:
    return get_services(request).protocols(viewer(request))


def get_crawl_store(request: Request) -> CrawlStore:
    return get_services(request).crawl_store


def get_accounts(request: Request) -> AccountStore:
    return get_services(request).accounts


def get_consent(request: Request) -> ConsentService:
    return get_services(request).consent


def get_indexes(request: Request) -> IndexSet:
    return get_services(request).indexes


SettingsDep = Annotated[Settings, Depends(get_settings)]
ViewerDep = Annotated[Viewer, Depends(get_viewer)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
TaxonomyDep = Annotated[TaxonomyStore, Depends(get_taxonomy)]
SearchStoreDep = Annotated[SearchStore, Depends(get_search_store)]
DatasetsDep = Annotated[DatasetStore, Depends(get_datasets)]
ModerationDep = Annotated[ModerationStore, Depends(get_moderation)]
ProtocolsDep = Annotated[ProtocolStore, Depends(get_protocols)]
AccountsDep = Annotated[AccountStore, Depends(get_accounts)]
ConsentDep = Annotated[ConsentService, Depends(get_consent)]
IndexesDep = Annotated[IndexSet, Depends(get_indexes)]
CrawlStoreDep = Annotated[CrawlStore, Depends(get_crawl_store)]


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
        settings = get_settings(request)
        if limit > settings.max_page_size:
            raise InvalidRequest(f"pages hold at most {settings.max_page_size} items",
                                 max_limit=settings.max_page_size)
        cap = settings.anonymous_max_page_size
        if anonymous_cap and limit > cap and current(request).role == "anonymous":
            raise PageTooLarge(f"pages above {cap} items need an API key", max_limit=cap)
        return Page(limit, offset)

    return Depends(pagination)


Paged = Annotated[Page, paginated()]


T = TypeVar("T")


def next_url(request: Request, shown: int, total: int, limit: int, offset: int) -> str | None:
    """The URL of the page after this one, or None on the last page."""
    if offset + shown >= total:
        return None
    # never from the Host header (a client could point links anywhere): relative, or the configured base
    url = request.url.include_query_params(offset=offset + limit, limit=limit)
    return (get_settings(request).public_url or "").rstrip("/") + url.path + (f"?{url.query}" if url.query else "")


def page(request: Request, items: Sequence[T], total: int, limit: int, offset: int) -> PageOf[T]:
    """The list envelope every list endpoint answers with."""
    return PageOf(items=list(items), total=total, limit=limit, offset=offset,
                     next=next_url(request, len(items), total, limit, offset))
