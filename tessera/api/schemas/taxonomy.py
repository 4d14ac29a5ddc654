"""Answers about clustering runs, the map and source-record profiles (labels and schemes are the
taxonomy stage's own records, ``tessera.taxonomy.records``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from tessera.api.schemas.common import PageOf
from tessera.taxonomy.records import FeatureEffect, HistoryEntry, Label, Run, RunDetail, RunHead, Scheme

RunPage = PageOf[Run]
SchemePage = PageOf[Scheme]
HistoryPage = PageOf[HistoryEntry]
__all__ = ["HistoryPage", "Label", "RunPage", "SchemePage"]


class RunPoints(RunDetail):
    """A run with a page of its map points."""

    points_total: int
    points_offset: int
    points_next: bool = Field(description="whether more points follow (ask with points_offset)")


class RunMap(RunHead):
    points_url: str = Field(description="where the points are, as typed arrays")
    points_layout: dict[str, Any] = Field(description="how to read points.bin: header, columns, byte order")


class RecordBrief(BaseModel):
    id: int
    kind: str
    identifier: str
    title: str
    creator: str | None
    doi: str | None
    page_url: str | None
    licence: str | None


class RecordProfileOut(BaseModel):
    record: RecordBrief
    space: str
    files: int
    total_duration: float
    summary: str
    features: list[FeatureEffect]
    exemplars: list[int]


class RecordNeighbour(BaseModel):
    record: RecordBrief
    distance: float
    files: int


class SimilarRecordsOut(BaseModel):
    record: RecordBrief
    space: str
    neighbours: list[RecordNeighbour]
