"""What every answer shares: id bounds and the list envelope."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, Field

# Every integer id the API accepts (path, query or body): one the database can bind (so an out-of-range
# number is a 422 and never reaches the driver) and that a JSON number holds exactly (2^53 - 1, the largest
# integer a double, and so JavaScript and most JSON parsers, represents without rounding).
ID_MAX = 2**53 - 1
DbId = Annotated[int, Field(ge=1, le=ID_MAX)]

T = TypeVar("T")


class PageOf(BaseModel, Generic[T]):
    """The list envelope: a page of ``items``, the ``total``, and the URL of the ``next`` page (or null)."""

    items: list[T]
    total: int
    limit: int
    offset: int
    next: str | None = Field(description="the next page (relative to this server, or under TESSERA_PUBLIC_URL)")
