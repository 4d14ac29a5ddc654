"""Answers about datasets: a dataset, its versions and members, what their licences allow together."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from tessera.api.schemas.common import PageOf
from tessera.catalog.protocols import ProtocolLabelRecord


class MemberOut(BaseModel):
    item_id: int
    segment_id: int | None
    start: float | None
    end: float | None
    md5: str


class VersionOut(BaseModel):
    version: int
    notes: str | None
    origin: dict[str, Any] = Field(description="how the version was made: manual, query (with the query), "
                                   "cluster, edit …")
    created_by: str | None
    created_at: datetime
    member_count: int
    members: list[MemberOut] | None = None


class DatasetOut(BaseModel):
    id: int
    name: str
    slug: str
    description: str | None
    notes: str | None
    created_by: str | None
    created_at: datetime
    latest_version: int | None
    latest: VersionOut | None = None
    protocol_labels: list[ProtocolLabelRecord] = Field(default_factory=list,
                                                       description="Local Contexts labels and notices on the dataset")


DatasetPage = PageOf[DatasetOut]
VersionPage = PageOf[VersionOut]


class LicenceSummaryOut(BaseModel):
    """What the active members' licences allow together."""

    dataset_id: int
    version: int
    withdrawn: int = Field(description="members withdrawn since the version was made (not exported)")
    counts: dict[str, int] = Field(description="SPDX id -> members")
    commercial_use: bool
    derivatives: bool
    attribution_required: bool
    share_alike: bool
    forbids: list[str]
    requires: list[str]
    warnings: list[str]
    summary: str
