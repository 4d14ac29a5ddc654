"""`tessera search`: words, filters (the grammar of ``GET /api/search``) and "more like this item"."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tessera.catalog.visibility import OPERATOR
from tessera.cli.common import emit, fail, services
from tessera.core.errors import TesseraError
from tessera.search.filters import FILTER_NAMES, from_pairs


def register(app: typer.Typer) -> None:
    @app.command("search")
    def search_cmd(
        text: Annotated[str | None, typer.Argument(help="Words to find (the `q` filter).")] = None,
        filter_: Annotated[list[str] | None, typer.Option(
            "--filter", "-f", metavar="NAME=VALUE",
            help=f"A filter of GET /api/search (repeatable): {', '.join(FILTER_NAMES)}.")] = None,
        like: Annotated[list[int] | None, typer.Option(
            "--like", metavar="ITEM_ID", help="Rank by how much items sound like this one (repeatable).")] = None,
        space: Annotated[str, typer.Option(help="Similarity space: all, timbre, rhythm or tonal.")] = "all",
        limit: Annotated[int, typer.Option(min=1, max=200, help="Page size.")] = 20,
        offset: Annotated[int, typer.Option(min=0, help="Skip this many answers.")] = 0,
        as_json: Annotated[bool, typer.Option("--json", help="Print the answer of GET /api/search.")] = False,
    ) -> None:
        """Find items by words, filters and sound, as GET /api/search does (the operator sees every item)."""
        from tessera.api.routers.search import hits_out
        from tessera.search.query import build_query, explain_page, search

        if space not in ("all", "timbre", "rhythm", "tonal"):
            raise typer.BadParameter(f"unknown space {space!r}; one of all, timbre, rhythm, tonal",
                                     param_hint="--space")
        try:
            flt = from_pairs(filter_ or [], q=text)
            svc = services()
            store = svc.search(OPERATOR)
            q = build_query(store, items=like or [])
            idx = svc.indexes.space(space) if q.positives else None
            result = search(store, idx, q, flt, limit, offset)
            whys = explain_page(idx, q, result.hits) if idx is not None else None
            ids = [h.file_id for h in result.hits]
            rows = svc.catalog(OPERATOR).get_items(ids)
            items = hits_out(result, whys, rows, store.quality_of(ids), svc.protocols(OPERATOR)
                             .protocol_labels_for_items(list(rows)))
        except TesseraError as exc:
            fail(exc)
        hits = [h.model_dump(mode="json") for h in items]
        body: dict[str, Any] = {"items": hits, "total": result.total, "limit": limit, "offset": offset,
                                "query": {**q.described, "space": space}}
        lines = [f"{h['item']['id']:>8}  {'' if h['distance'] is None else format(h['distance'], '.3f'):>7}  "
                 f"{h['item']['title']}  [{h['item']['licence']['spdx']}]" for h in hits]
        emit(body, as_json, "\n".join([*lines, f"{result.total} items match"]))
