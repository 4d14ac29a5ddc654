"""Local Contexts Traditional Knowledge (TK) and Biocultural (BC) labels and notices, and who may see what.

Labels are the communities' own statements about how their material may be used; Tessera shows
them wherever the item is, carries them into exports, and enforces the ones that restrict access:
such items are hidden from everyone outside the label's community (moderators and admins still
see them, to handle reports and consent).

The viewer is request-scoped: the API's auth middleware sets it for each request; code running
outside a request (indexing, clustering, the operator's CLI) sees everything, so the indexes hold
restricted items and every read path filters them at query time.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class ProtocolKind:
    code: str
    name: str
    restricts: bool
    seasonal: bool = False


_KINDS = [
    # Traditional Knowledge labels
    ProtocolKind("tk_attribution", "TK Attribution", False),
    ProtocolKind("tk_clan", "TK Clan", False),
    ProtocolKind("tk_family", "TK Family", False),
    ProtocolKind("tk_multiple_communities", "TK Multiple Communities", False),
    ProtocolKind("tk_community_voice", "TK Community Voice", False),
    ProtocolKind("tk_creative", "TK Creative", False),
    ProtocolKind("tk_verified", "TK Verified", False),
    ProtocolKind("tk_non_verified", "TK Non-Verified", False),
    ProtocolKind("tk_seasonal", "TK Seasonal", True, seasonal=True),
    ProtocolKind("tk_women_general", "TK Women General", False),
    ProtocolKind("tk_men_general", "TK Men General", False),
    ProtocolKind("tk_women_restricted", "TK Women Restricted", True),
    ProtocolKind("tk_men_restricted", "TK Men Restricted", True),
    ProtocolKind("tk_culturally_sensitive", "TK Culturally Sensitive", False),
    ProtocolKind("tk_secret_sacred", "TK Secret / Sacred", True),
    ProtocolKind("tk_open_to_commercialization", "TK Open to Commercialization", False),
    ProtocolKind("tk_non_commercial", "TK Non-Commercial", False),
    ProtocolKind("tk_community_use_only", "TK Community Use Only", True),
    ProtocolKind("tk_outreach", "TK Outreach", False),
    ProtocolKind("tk_open_to_collaboration", "TK Open to Collaboration", False),
    # Biocultural labels
    ProtocolKind("bc_provenance", "BC Provenance", False),
    ProtocolKind("bc_multiple_communities", "BC Multiple Communities", False),
    ProtocolKind("bc_clan", "BC Clan", False),
    ProtocolKind("bc_consent_verified", "BC Consent Verified", False),
    ProtocolKind("bc_consent_non_verified", "BC Consent Non-Verified", False),
    ProtocolKind("bc_research_use", "BC Research Use", False),
    ProtocolKind("bc_open_to_collaboration", "BC Open to Collaboration", False),
    ProtocolKind("bc_open_to_commercialization", "BC Open to Commercialization", False),
    ProtocolKind("bc_outreach", "BC Outreach", False),
    ProtocolKind("bc_non_commercial", "BC Non-Commercial", False),
    # notices (set by institutions while a community's labels are pending)
    ProtocolKind("tk_notice", "TK Notice", False),
    ProtocolKind("bc_notice", "BC Notice", False),
    ProtocolKind("attribution_incomplete", "Attribution Incomplete Notice", False),
    ProtocolKind("open_to_collaboration", "Open to Collaboration Notice", False),
]
KINDS = {k.code: k for k in _KINDS}


@dataclass(frozen=True)
class Viewer:
    """Who reads: ``sees_all`` for moderators, admins and the operator; else the communities they belong to."""

    sees_all: bool
    communities: frozenset[str] = frozenset()


EVERYONE = Viewer(sees_all=True)
PUBLIC = Viewer(sees_all=False)
_viewer: ContextVar[Viewer] = ContextVar("tessera_viewer", default=EVERYONE)


def current_viewer() -> Viewer:
    return _viewer.get()


def set_viewer(viewer: Viewer) -> object:
    """Set the viewer for the current request (or task); returns a token for ``reset_viewer``."""
    return _viewer.set(viewer)


def reset_viewer(token: object) -> None:
    _viewer.reset(token)  # type: ignore[arg-type]


def in_season(start: str | None, end: str | None, month_day: str) -> bool:
    """Whether MM-DD ``month_day`` lies in [start, end], which may wrap around the new year."""
    if not start or not end:
        return False
    if start <= end:
        return start <= month_day <= end
    return month_day >= start or month_day <= end
