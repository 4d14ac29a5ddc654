"""The filter grammar (``search.filters``) as query parameters, and the rule that a route refuses names it
does not declare: a misspelt filter is a 422 naming it, never a silently unfiltered answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from tessera.search.filters import Filters, QueryFilters, unknown_message


def _query_names(dependant: Dependant) -> tuple[str, ...]:
    """Every query parameter a route declares, its dependencies' and its query models' included."""
    names: list[str] = []
    todo = [dependant]
    while todo:
        d = todo.pop()
        for field in d.query_params:
            model = field.field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):
                names += [f.alias or n for n, f in model.model_fields.items()]
            else:
                names.append(field.alias)
        todo += d.dependencies
    return tuple(dict.fromkeys(names))


def declared_query_names(request: Request) -> tuple[str, ...]:
    route = request.scope.get("route")
    dependant: Dependant | None = getattr(route, "dependant", None)
    # a walk over a handful of dependants: cheaper than keeping a cache that outlives apps
    return () if dependant is None else _query_names(dependant)


def refuse_unknown_query(request: Request) -> None:
    """422 for a query parameter the route does not take, naming it and listing the accepted ones."""
    accepted = declared_query_names(request)
    if not accepted:
        return  # not a routed request: nothing declared to check against
    unknown = [k for k in dict.fromkeys(request.query_params.keys()) if k not in accepted]
    if unknown:
        raise RequestValidationError([
            {"type": "extra_forbidden", "loc": ("query", name), "msg": unknown_message([name], accepted),
             "input": request.query_params.get(name)} for name in unknown])


def query_filters(request: Request, flt: Annotated[QueryFilters, Query()]) -> Filters:
    refuse_unknown_query(request)
    return flt


FiltersDep = Annotated[Filters, Depends(query_filters)]
