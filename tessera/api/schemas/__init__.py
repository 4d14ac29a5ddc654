"""Pydantic answers of the API, one module per area; the names routers use are re-exported here."""

from tessera.api.schemas.common import ID_MAX, DbId, PageOf
from tessera.api.schemas.items import (
    Health,
    IndexState,
    ItemDetail,
    ItemOut,
    ItemPage,
    LicenceOut,
    Neighbour,
    SearchAnswer,
    SimilarOut,
    item_out,
    licence_out,
    segment_out,
)

__all__ = ["ID_MAX", "DbId", "Health", "IndexState", "ItemDetail", "ItemOut", "ItemPage", "LicenceOut",
           "Neighbour", "PageOf", "SearchAnswer", "SimilarOut", "item_out", "licence_out", "segment_out"]
