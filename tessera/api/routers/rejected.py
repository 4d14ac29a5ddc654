"""GET /api/rejected: records and files the crawlers saw but did not take in, and why."""

from __future__ import annotations

import re

from fastapi import APIRouter, Query, Request

from tessera.api.auth import current
from tessera.api.deps import CrawlStoreDep, Paged, page
from tessera.api.errors import problems
from tessera.api.schemas import PageOf
from tessera.api.schemas.moderation import RejectedOut

router = APIRouter(tags=["crawls"])

OPTED_OUT = "opted_out"  # tessera.crawlers.harvest.OPTED_OUT; not imported so the API does not load the crawlers
_REGISTRY_ENTRY = re.compile(r"\b(creator|orcid|ia_uploader|zenodo_community):.*$", re.S)


def _redacted(detail: str | None) -> str | None:
    """An opt-out rejection names the registry entry (an e-mail, a name, an ORCID): the public sees only its kind."""
    if not detail:
        return detail
    return _REGISTRY_ENTRY.sub(lambda m: f"a {m.group(1)} entry", detail)


@router.get("/api/rejected", summary="Records and files the crawlers did not take in, and why",
            responses=problems(403))
def list_rejected(
    request: Request,
    crawls: CrawlStoreDep,
    pg: Paged,
    kind: str | None = Query(None, max_length=32, description="zenodo | internet_archive | folder"),
    reason: str | None = Query(None, max_length=64, description="e.g. no_licence, licence_not_open, no_audio"),
) -> PageOf[RejectedOut]:
    limit, offset = pg.limit, pg.offset
    rows, total = crawls.list_rejected(limit, offset, kind=kind, reason=reason)
    moderator = current(request).at_least("moderator")
    items = [
        RejectedOut(id=r.id, kind=r.kind, identifier=r.identifier, filename=r.filename or None, reason=r.reason,
                    detail=r.detail if moderator or r.reason != OPTED_OUT else _redacted(r.detail), url=r.url,
                    seen_at=r.seen_at)
        for r in rows
    ]
    return page(request, items, total, limit, offset)
