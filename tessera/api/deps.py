"""Request-scoped access to what ``create_app`` built once: settings, catalogue, indexes."""

from __future__ import annotations

from typing import Any

from fastapi import Request

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


def page(request: Request, items: list[Any], total: int, limit: int, offset: int) -> dict[str, Any]:
    """The list envelope every list endpoint answers with."""
    nxt = None
    if offset + len(items) < total:
        nxt = str(request.url.include_query_params(offset=offset + limit, limit=limit))
    return {"items": items, "total": total, "limit": limit, "offset": offset, "next": nxt}
