"""Typed records the taxonomy stage hands out (schemes, labels, runs, clusters, SKOS data).

Pydantic models, so that the API can answer with them as they are: their field names are the JSON the
API and ``--json`` print.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

LinkKind = Literal["exactMatch", "closeMatch", "related"]
LabelStatus = Literal["proposed", "accepted", "removed"]


class Scheme(BaseModel):
    id: int
    slug: str
    name: str
    description: str | None
    community: str | None
    rule: dict[str, int | bool] = Field(description='{"min_net_votes": N} and/or {"steward_approval": true}')
    stewards: list[str]
    created_by: str | None
    created_at: datetime | None


class Label(BaseModel):
    id: int
    scheme: str = Field(description="the scheme's slug")
    identity_id: int | None = Field(description="the cluster identity it names (labels survive re-clustering)")
    item_id: int | None
    text: str
    lang: str = Field(description="BCP 47 language tag")
    description: str | None
    cultural_context: str | None
    status: LabelStatus
    net_votes: int
    created_by: str | None
    created_at: datetime | None
    inherited_from_identity_id: int | None = Field(
        default=None, description="set when the label was written on an identity merged into this one")


class HistoryEntry(BaseModel):
    id: int
    label_id: int
    action: str = Field(description="propose, vote, accept, edit, remove, link")
    actor: str
    detail: dict[str, Any] = Field(description="what changed; its members depend on the action")
    at: datetime | None


class Link(BaseModel):
    label_id: int
    other_label_id: int
    kind: LinkKind


class Target(BaseModel):
    scheme: str
    identity_id: int | None
    item_id: int | None


class SkosLink(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    kind: LinkKind
    from_: Target = Field(alias="from")
    to: Target


class SkosData(BaseModel):
    """A scheme's accepted labels grouped by concept, with links to other schemes' concepts."""

    scheme: Scheme
    labels: list[Label]
    links: list[SkosLink]


class FeatureEffect(BaseModel):
    feature: str
    effect: float = Field(description="rank-biserial, cluster vs rest: > 0 means higher in the cluster")
    words: str
    cluster_median: float
    rest_median: float | None
    unit: str


class Explanation(BaseModel):
    """What sets a cluster apart, in the data dictionary's words."""

    label: int | None = None
    size: int | None = None
    total_duration: float | None = None
    licences: dict[str, int] = {}
    summary: str = ""
    features: list[FeatureEffect] = []
    exemplars: list[int] = []


class Run(BaseModel):
    id: int
    space: str
    extractor_version: str
    params: dict[str, Any] = Field(description="the clustering parameters (UMAP, HDBSCAN) of the run")
    items: int
    clusters: int
    unclustered: int
    previous_run_id: int | None
    created_by: str | None
    created_at: datetime | None


class Cluster(BaseModel):
    id: int
    run_id: int
    label: int = Field(description="the cluster's number within its run")
    identity_id: int
    size: int
    total_duration: float
    explanation: Explanation
    exemplars: list[int]
    labels: list[Label]


class Point(BaseModel):
    item_id: int
    cluster_id: int | None
    x: float
    y: float
    probability: float


class Member(BaseModel):
    item_id: int
    x: float
    y: float
    probability: float


class Lineage(BaseModel):
    kind: str = Field(description="continued, split, merged, new or dissolved")
    from_identity_id: int | None
    to_identity_id: int | None
    from_cluster_id: int | None
    to_cluster_id: int | None
    overlap: int


class RunDetail(Run):
    clusters_detail: list[Cluster]
    points: list[Point]
    unclustered_items: list[int]
    lineage: list[Lineage]


class ClusterDetail(Cluster):
    members: list[Member]
    lineage: list[Lineage]
    related_labels: list[Label] = Field(description="labels of identities that merged or split into this one")


class RunHead(Run):
    clusters_detail: list[Cluster]
    unclustered_sample: list[int]
