"""Answers about items (listing, detail, similar, search hits, spaces, the data dictionary, health)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from tessera.api.redact import public_identifier, scrub
from tessera.api.schemas.common import PageOf
from tessera.catalog.models import AudioFile, Segment
from tessera.catalog.protocols import ProtocolLabelRecord
from tessera.core import licences


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


class Quality(BaseModel):
    """Measured quality of a recording or segment; ``flags`` name what is wrong (see the data dictionary)."""

    model_config = {"extra": "allow"}

    flags: list[str] = []


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
    quality: Quality | None = None
    protocol_labels: list[ProtocolLabelRecord] = Field(
        default_factory=list, description="Local Contexts TK/BC labels and notices on the item or its source record")


class SegmentOut(BaseModel):
    id: int
    start: float
    end: float
    quality: Quality
    features: dict[str, Any] | None = None


class ItemDetail(ItemOut):
    features: dict[str, Any] | None = Field(
        default=None, description="feature name (see GET /api/features) -> value")
    extractor_version: str | None = None
    segments: list[SegmentOut] = []


ItemPage = PageOf[ItemOut]


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


class IndexState(BaseModel):
    build: str | None = Field(description="the current index build, null before the first `tessera index`")
    spaces: dict[str, int | None] = Field(description="space -> vectors in its index")


class Health(BaseModel):
    status: str = Field(description="ok or degraded")
    version: str
    licence: str = "AGPL-3.0-only"
    source: str = Field(description="where this server's source code is offered (AGPL-3.0 section 13)")
    database: str = Field(description="ok or unavailable")
    items: dict[str, int] = Field(description="visible items per status, and the number of source records")
    index: IndexState


class SearchHit(BaseModel):
    item: ItemOut
    distance: float | None = Field(description="distance to the query in the space (null when browsing)")
    score: float | None
    why: str | None = Field(description="what makes it close, in plain words")
    segment_id: int | None
    start: float | None
    end: float | None


class SearchAnswer(PageOf[SearchHit]):
    query: dict[str, Any] = Field(description="the query as understood: examples, negatives, space")


class FeatureDefOut(BaseModel):
    name: str
    group: str
    unit: str
    range: str
    algorithm: str
    parameters: str
    meaning: str
    reliability: str
    high: str
    low: str


class Dictionary(BaseModel):
    """The data dictionary: every feature Tessera computes, with its unit, algorithm and meaning."""

    extractor_version: str
    features: list[FeatureDefOut]
    labels: list[FeatureDefOut]
    quality: list[FeatureDefOut]
    fingerprint: list[FeatureDefOut]
    learned: list[FeatureDefOut]
    quality_flags: dict[str, str] = Field(description="flag -> when it is set")


class Aspect(BaseModel):
    name: str
    weight: float
    features: list[str]


class SpaceIndex(BaseModel):
    model_config = {"extra": "allow"}

    space: str
    dimension: int
    count: int
    files: int
    segments: int
    index_type: str
    recall_at_10: float
    build_seconds: float
    transform_digest: str
    extractor_version: str


class SpaceOut(BaseModel):
    name: str
    description: str
    features: list[str]
    aspects: list[Aspect]
    groups: list[str]
    index: SpaceIndex | None = Field(description="the built index of the space, null before `tessera index`")


SpacePage = PageOf[SpaceOut]


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
             protocol: dict[int, list[ProtocolLabelRecord]] | None = None) -> ItemOut:
    rec = f.record
    return ItemOut(
        id=f.id, title=f.title, creator=f.creator, filename=f.filename, format=f.format, duration=f.duration,
        sample_rate=f.sample_rate, channels=f.channels, size=f.size, md5=f.md5, status=f.status, error=scrub(f.error),
        licence=licence_out(f.licence_spdx, f.licence_url), attribution=f.attribution,
        source=SourceOut(kind=rec.kind, identifier=public_identifier(rec.identifier), record_id=rec.id,
                         title=rec.title, doi=rec.doi, page_url=rec.page_url, file_url=f.url),
        consent=ConsentOut(state=f.consent_state, expires_at=f.consent_expires_at),
        duplicate_of=f.duplicate_of, audio_url=f"/api/items/{f.id}/audio",
        quality=Quality.model_validate(quality) if quality is not None else None,
        protocol_labels=(protocol or {}).get(f.id, []),
    )


def segment_out(s: Segment, with_features: bool) -> SegmentOut:
    return SegmentOut(id=s.id, start=s.start, end=s.end, quality=Quality.model_validate(s.quality or {}),
                      features=s.features if with_features else None)
