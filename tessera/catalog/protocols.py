"""Cultural protocol labels (Local Contexts TK / BC labels and notices) on items, records and datasets.

The catalogue stage owns them because they decide, with consent, who may see an item (``visibility``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import column, func, or_, select, table

from tessera.catalog.models import AudioFile, ProtocolLabel, SourceRecord
from tessera.catalog.visibility import KINDS, Viewer
from tessera.core.audit import audit
from tessera.core.db import Database
from tessera.core.errors import InvalidInput, NotFound

PROTOCOL_TARGETS = ("item", "record", "dataset")
_MONTH_DAY = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")


class ProtocolLabelRecord(BaseModel):
    """A Local Contexts label or notice on an item, a source record or a dataset."""

    id: int
    target_kind: Literal["item", "record", "dataset"]
    target_id: int
    code: str = Field(description="the Local Contexts code, see GET /api/protocol-kinds")
    name: str
    kind: str = Field(description="TK (Traditional Knowledge) or BC (Biocultural)")
    community: str
    text: str | None = Field(description="the community's own words")
    restricts: bool = Field(description="whether it hides the target from people outside the community")
    season_start: str | None = Field(description="MM-DD")
    season_end: str | None = Field(description="MM-DD")
    created_by: str | None
    created_at: datetime | None

    def brief(self) -> str:
        """One line for exports and dataset cards: name (community): text."""
        return f"{self.name} ({self.community})" + (f": {self.text}" if self.text else "")


class ProtocolStore:
    def __init__(self, db: Database, viewer: Viewer) -> None:
        self.db = db
        self.viewer = viewer

    @staticmethod
    def protocol_dict(p: ProtocolLabel) -> ProtocolLabelRecord:
        kind = KINDS.get(p.code)
        return ProtocolLabelRecord.model_validate(
            {"id": p.id, "target_kind": p.target_kind, "target_id": p.target_id, "code": p.code,
             "name": kind.name if kind else p.code, "kind": p.code.split("_")[0].upper(),
             "community": p.community, "text": p.text, "restricts": p.restricts,
             "season_start": p.season_start, "season_end": p.season_end, "created_by": p.created_by,
             "created_at": p.created_at})

    def add_protocol_label(self, target_kind: str, target_id: int, code: str, community: str, text: str | None,
                           actor: str, season_start: str | None = None,
                           season_end: str | None = None) -> ProtocolLabelRecord:
        if target_kind not in PROTOCOL_TARGETS:
            raise InvalidInput(f"a protocol label goes on one of: {', '.join(PROTOCOL_TARGETS)}")
        kind = KINDS.get(code)
        if kind is None:
            raise InvalidInput(f"unknown Local Contexts label {code!r}", known=sorted(KINDS))
        if not community.strip():
            raise InvalidInput("a protocol label names its community")
        for v in (season_start, season_end):
            if v is not None and not _MONTH_DAY.match(v):
                raise InvalidInput("a season runs from MM-DD to MM-DD", value=v)
        if kind.seasonal and (season_start is None) != (season_end is None):
            raise InvalidInput("a season needs both its start and its end")
        if not kind.seasonal and (season_start is not None or season_end is not None):
            # a season on, say, a secret/sacred label would read as "public out of season"
            raise InvalidInput(f"{code} is not a seasonal label: it takes no season dates",
                               seasonal=sorted(k.code for k in KINDS.values() if k.seasonal))
        # datasets are a stage above this one: their table is named, not imported
        tbl = {"item": AudioFile.__tablename__, "record": SourceRecord.__tablename__,
               "dataset": "datasets"}[target_kind]
        with self.db.session() as s:
            if s.scalar(select(column("id")).select_from(table(tbl)).where(column("id") == target_id)) is None:
                raise NotFound(f"{target_kind} {target_id} not found", id=target_id)
            p = ProtocolLabel(target_kind=target_kind, target_id=target_id, code=code, community=community.strip(),
                              text=text, restricts=kind.restricts, season_start=season_start,
                              season_end=season_end, created_by=actor)
            s.add(p)
            s.flush()
            audit(s, actor, "protocol_label_added", target_kind, target_id, code=code, community=p.community)
            return self.protocol_dict(p)

    def remove_protocol_label(self, label_id: int, actor: str) -> None:
        with self.db.session() as s:
            p = s.get(ProtocolLabel, label_id)
            if p is None:
                raise NotFound(f"protocol label {label_id} not found", id=label_id)
            audit(s, actor, "protocol_label_removed", p.target_kind, p.target_id, code=p.code,
                        community=p.community)
            s.delete(p)

    def protocol_fingerprint(self) -> str:
        """A digest of every restricting label (what decides who sees what): changes whenever one does."""
        import hashlib

        p = ProtocolLabel
        with self.db.session() as s:
            rows = s.execute(select(p.id, p.target_kind, p.target_id, p.community, p.season_start, p.season_end)
                             .where(p.restricts.is_(True)).order_by(p.id)).all()
        return hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()[:16]

    def protocol_labels(self, target_kind: str | None = None, target_id: int | None = None,
                        limit: int = 200, offset: int = 0) -> tuple[list[ProtocolLabelRecord], int]:
        cond = []
        if not self.viewer.sees_all:
            # a restricting label of another community tells outsiders what is hidden, and where: not theirs
            cond.append(or_(ProtocolLabel.restricts.is_(False),
                            ProtocolLabel.community.in_(sorted(self.viewer.communities))))
        if target_kind is not None:
            cond.append(ProtocolLabel.target_kind == target_kind)
        if target_id is not None:
            cond.append(ProtocolLabel.target_id == target_id)
        with self.db.session() as s:
            total = int(s.scalar(select(func.count(ProtocolLabel.id)).where(*cond)) or 0)
            rows = s.scalars(select(ProtocolLabel).where(*cond).order_by(ProtocolLabel.id)
                             .limit(limit).offset(offset)).all()
            return [self.protocol_dict(p) for p in rows], total

    def protocol_labels_for_items(self, file_ids: Sequence[int]) -> dict[int, list[ProtocolLabelRecord]]:
        """Labels on each item, its own and its source record's."""
        if not file_ids:
            return {}
        with self.db.session() as s:
            rec_of = {int(f): int(r) for f, r in s.execute(select(AudioFile.id, AudioFile.record_id)
                                                           .where(AudioFile.id.in_(list(file_ids))))}
            rows = s.scalars(select(ProtocolLabel).where(
                ((ProtocolLabel.target_kind == "item") & ProtocolLabel.target_id.in_(list(rec_of)))
                | ((ProtocolLabel.target_kind == "record") & ProtocolLabel.target_id.in_(sorted(set(rec_of.values()))))
            ).order_by(ProtocolLabel.id)).all()
            out: dict[int, list[ProtocolLabelRecord]] = {f: [] for f in rec_of}
            for p in rows:
                d = self.protocol_dict(p)
                for f, r in rec_of.items():
                    if p.target_id == (f if p.target_kind == "item" else r):
                        out[f].append(d)
            return out
