"""GET /api/rejected: records and files the crawlers saw but did not take in, and why."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from tessera.api.deps import get_catalog, page
from tessera.catalog.store import Catalog

router = APIRouter()


@router.get("/api/rejected")
def list_rejected(
    request: Request,
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=10**9),
    kind: str | None = Query(None, description="zenodo | internet_archive | folder"),
    reason: str | None = Query(None, description="e.g. no_licence, licence_not_open, no_audio"),
    catalog: Catalog = Depends(get_catalog),
) -> dict[str, Any]:
    rows, total = catalog.list_rejected(limit, offset, kind=kind, reason=reason)
    items = [
        {
            "id": r.id,
            "kind": r.kind,
            "identifier": r.identifier,
            "filename": r.filename or None,
            "reason": r.reason,
            "detail": r.detail,
            "url": r.url,
            "seen_at": r.seen_at.isoformat() if r.seen_at else None,
        }
        for r in rows
    ]
    return page(request, items, total, limit, offset)
