"""Who may see which item: the consent rule and the cultural-protocol rule, decided here only.

Local Contexts Traditional Knowledge (TK) and Biocultural (BC) labels that restrict access hide an item
(or a whole record, or a dataset) from everyone outside the label's community; moderators and admins
still see them, to handle reports and consent.

Visibility fails closed: there is no ambient viewer. Every store that can return items is built for
one ``Viewer`` (the API builds one per request from the caller; the operator's CLI and the pipeline
name ``OPERATOR`` explicitly), and ``visible_clause`` needs that viewer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute, aliased

from tessera.catalog.models import AudioFile, ProtocolLabel
from tessera.core.vocab import KINDS, ProtocolKind

__all__ = ["KINDS", "OPERATOR", "PUBLIC", "ProtocolKind", "Viewer", "consented_clause", "dataset_visible_clause",
           "in_season", "visible_clause"]


@dataclass(frozen=True)
class Viewer:
    """Who reads: ``sees_all`` for moderators, admins and the operator; else the communities they belong to."""

    sees_all: bool
    communities: frozenset[str] = frozenset()

    @classmethod
    def of(cls, communities: tuple[str, ...] | list[str] | frozenset[str]) -> Viewer:
        return cls(False, frozenset(communities))


OPERATOR = Viewer(sees_all=True)  # the operator's own tools (CLI, indexer, clustering): named, never a default
PUBLIC = Viewer(sees_all=False)


def now_utc() -> datetime:
    return datetime.now(UTC)


def consented_clause(at: datetime | None = None) -> ColumnElement[bool]:
    """The consent rule alone: active, not lapsed, and not the bytes of a withdrawn file registered again
    (under another record or source). The pipeline indexes and clusters exactly these."""
    at = at or now_utc()
    withdrawn = aliased(AudioFile)
    return and_(
        AudioFile.consent_state == "active",
        or_(AudioFile.consent_expires_at.is_(None), AudioFile.consent_expires_at > at),
        AudioFile.md5.not_in(select(withdrawn.md5).where(withdrawn.consent_state == "withdrawn")),
    )


def visible_clause(viewer: Viewer, at: datetime | None = None) -> ColumnElement[bool]:
    """Items ``viewer`` may see: the consent rule plus the viewer's cultural protocols."""
    at = at or now_utc()
    rule = consented_clause(at)
    return rule if viewer.sees_all else and_(rule, _protocol_clause(viewer, at))


def _protocol_clause(viewer: Viewer, at: datetime) -> ColumnElement[bool]:
    """Hide items (or whole records) under a restricting protocol label of a community the viewer is not in.

    A seasonal label restricts only outside its season (MM-DD to MM-DD, possibly across the new year).
    """
    return and_(
        AudioFile.id.not_in(hidden_targets("item", viewer, at)),
        AudioFile.record_id.not_in(hidden_targets("record", viewer, at)),
    )


def hidden_targets(target_kind: str, viewer: Viewer, at: datetime) -> Select[Any]:
    """Ids of the items, records or datasets a restricting label hides from ``viewer`` at ``at``."""
    md = at.strftime("%m-%d")
    p = ProtocolLabel
    seasonal = sorted(k.code for k in KINDS.values() if k.seasonal)
    season = and_(
        p.code.in_(seasonal), p.season_start.is_not(None), p.season_end.is_not(None),
        or_(and_(p.season_start <= p.season_end, p.season_start <= md, p.season_end >= md),
            and_(p.season_start > p.season_end, or_(p.season_start <= md, p.season_end >= md))),
    )
    hidden = and_(p.restricts.is_(True), p.community.not_in(sorted(viewer.communities)), ~season)
    return select(p.target_id).where(p.target_kind == target_kind, hidden)


def dataset_visible_clause(viewer: Viewer, dataset_id: InstrumentedAttribute[int],
                           at: datetime | None = None) -> ColumnElement[bool]:
    """A dataset under a restricting protocol label is hidden, with its export, from those it excludes."""
    if viewer.sees_all:
        return true()
    return dataset_id.not_in(hidden_targets("dataset", viewer, at or now_utc()))


def in_season(start: str | None, end: str | None, month_day: str) -> bool:
    """Whether MM-DD ``month_day`` lies in [start, end], which may wrap around the new year."""
    if not start or not end:
        return False
    if start <= end:
        return start <= month_day <= end
    return month_day >= start or month_day <= end
