"""Pydantic answers of the API, and their construction from catalogue rows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from tessera.api.redact import public_identifier, scrub
from tessera.catalog.models import AudioFile, Segment
from tessera.core import licences

# Every integer id the API accepts (path, query or body): a 64-bit signed integer the database can
# bind, so an out-of-range number is a 422 and never reaches the driver.
ID_MAX = 2**63 - 1
DbId = Annotated[int, Field(ge=1, le=ID_MAX)]


class Requires(BaseModel):
    attribution: bool
    share_alike: bool
    non_commercial: bool
    no_derivatives: bool


class LicenceOut(BaseModel):
    spdx: str
    url: str
    name: str
    open: bool = Field(description="CC0, PDM, CC BY or CC BY-SA: free for any use with attribution")
    restricted: bool = Field(description="NC or ND: open access, but commercial use or derivatives forbidden")
    requires: Requires
    forbids: list[str]


class SourceOut(BaseModel):
    kind: str
    identifier: str
    record_id: int
    title: str
    doi: str | None
    page_url: str | None
    file_url: str | None


class ConsentOut(BaseModel):
    state: str
    expires_at: datetime | None


class ItemOut(BaseModel):
    id: int
    title: str
    creator: str | None
    filename: str
    format: str | None
    duration: float | None
    sample_rate: int | None
    channels: int | None
    size: int
    md5: str
    status: str = Field(description="pending, indexed or failed")
    error: str | None = None
    licence: LicenceOut
    attribution: str
    source: SourceOut
    consent: ConsentOut
    duplicate_of: int | None
    audio_url: str
    quality: dict[str, Any] | None = None
    protocol_labels: list[dict[str, Any]] = Field(
        default_factory=list, description="Local Contexts TK/BC labels and notices on the item or its source record")


class SegmentOut(BaseModel):
    id: int
    start: float
    end: float
    quality: dict[str, Any]
    features: dict[str, Any] | None = None


class ItemDetail(ItemOut):
    features: dict[str, Any] | None = None
    extractor_version: str | None = None
    segments: list[SegmentOut] = []


class ItemPage(BaseModel):
    items: list[ItemOut]
    total: int
    limit: int
    offset: int
    next: str | None


class Neighbour(BaseModel):
    item: ItemOut
    distance: float
    why: str | None = Field(default=None, description="what makes it close, in plain words (the feature "
                            "aspects nearest the query, and those that differ)")
    segment_id: int | None = Field(description="the matching segment of a long recording, if any")
    start: float | None = None
    end: float | None = None


class SimilarOut(BaseModel):
    query: int
    space: str
    k: int
    items: list[Neighbour]


class Health(BaseModel):
    status: str
    version: str
    licence: str = "AGPL-3.0-only"
    source: str = Field(description="where this server's source code is offered (AGPL-3.0 section 13)")
    database: str
    items: dict[str, int]
    index: dict[str, Any]


def licence_out(spdx: str, url: str) -> LicenceOut:
    try:
        lic = licences.licence_for_spdx(spdx)
    except licences.LicenceError:
        lic = licences.normalise(spdx)
    return LicenceOut(
        spdx=lic.spdx, url=url or lic.url, name=lic.name, open=lic.open, restricted=lic.restricted,
        requires=Requires(attribution=lic.attribution, share_alike=lic.share_alike,
                          non_commercial=lic.non_commercial, no_derivatives=lic.no_derivatives),
        forbids=lic.forbids,
    )


def item_out(f: AudioFile, quality: dict[str, Any] | None = None,
             protocol: dict[int, list[dict[str, Any]]] | None = None) -> ItemOut:
    rec = f.record
    return ItemOut(
        id=f.id, title=f.title, creator=f.creator, filename=f.filename, format=f.format, duration=f.duration,
        sample_rate=f.sample_rate, channels=f.channels, size=f.size, md5=f.md5, status=f.status, error=scrub(f.error),
        licence=licence_out(f.licence_spdx, f.licence_url), attribution=f.attribution,
        source=SourceOut(kind=rec.kind, identifier=public_identifier(rec.identifier), record_id=rec.id,
                         title=rec.title, doi=rec.doi, page_url=rec.page_url, file_url=f.url),
        consent=ConsentOut(state=f.consent_state, expires_at=f.consent_expires_at),
        duplicate_of=f.duplicate_of, audio_url=f"/api/items/{f.id}/audio", quality=quality,
        protocol_labels=(protocol or {}).get(f.id, []),
    )


def segment_out(s: Segment, with_features: bool) -> SegmentOut:
    return SegmentOut(id=s.id, start=s.start, end=s.end, quality=s.quality,
                      features=s.features if with_features else None)
