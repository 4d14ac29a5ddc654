"""Community naming: concept schemes, labels in any language, votes, acceptance, links, history, SKOS data.

Labels name a cluster's identity (so they survive re-clustering) or a single item; a label about an item
the viewer may not see is as missing as the item.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tessera.catalog.models import AudioFile
from tessera.catalog.visibility import Viewer, visible_clause
from tessera.core.db import Database
from tessera.core.errors import Conflict, InvalidInput, NotFound
from tessera.taxonomy import records
from tessera.taxonomy.errors import NotAllowed
from tessera.taxonomy.models import (
    Cluster,
    ClusterIdentity,
    ClusterLineage,
    Label,
    LabelHistory,
    LabelLink,
    LabelVote,
    Scheme,
    SchemeSteward,
)

LINK_KINDS = ("exactMatch", "closeMatch", "related")
LABEL_STATUSES = ("proposed", "accepted", "removed")
# BCP 47 shape (RFC 5646 langtag or private use), not registry membership. Only 2-3 letter
# primary subtags: 5-8 letter ones are allowed by the grammar but none is registered, and
# refusing them catches "english" written for "en".
_LANGTAG = re.compile(
    r"^(?:[a-z]{2,3}(?:-[a-z]{3}){0,3})"  # language (+ extlang)
    r"(?:-[a-z]{4})?"  # script
    r"(?:-(?:[a-z]{2}|[0-9]{3}))?"  # region
    r"(?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*"  # variants
    r"(?:-[0-9a-wy-z](?:-[a-z0-9]{2,8})+)*"  # extensions
    r"(?:-x(?:-[a-z0-9]{1,8})+)?$"  # private use
    r"|^x(?:-[a-z0-9]{1,8})+$",
    re.IGNORECASE,
)
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def valid_language_tag(tag: str) -> bool:
    return bool(_LANGTAG.match(tag))


def normalise_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """{"min_net_votes": N} and/or {"steward_approval": true}; anything else is refused."""
    unknown = set(rule) - {"min_net_votes", "steward_approval"}
    if unknown or not rule:
        raise InvalidInput("an acceptance rule is {\"min_net_votes\": N} and/or {\"steward_approval\": true}",
                           unknown=sorted(unknown))
    out: dict[str, Any] = {}
    if "min_net_votes" in rule:
        n = rule["min_net_votes"]
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise InvalidInput("min_net_votes must be a positive integer", min_net_votes=n)
        out["min_net_votes"] = n
    if rule.get("steward_approval"):
        out["steward_approval"] = True
    if not out:
        raise InvalidInput("the rule accepts nothing: give min_net_votes or steward_approval: true")
    return out


def absorbed_identities(s: Session, identity_ids: Sequence[int]) -> dict[int, list[int]]:
    """identity -> identities merged into it (transitively), from the "merged" lineage of every run.

    A merge ends the absorbed identities; their labels stay on them but belong with the survivor,
    so nothing a community wrote is lost when groups are re-clustered together.
    """
    wanted = {int(i) for i in identity_ids}
    if not wanted:
        return {}
    into: dict[int, set[int]] = {}
    for frm, to in s.execute(select(ClusterLineage.from_identity_id, ClusterLineage.to_identity_id)
                             .where(ClusterLineage.kind == "merged")):
        if frm is not None and to is not None and frm != to:
            into.setdefault(int(to), set()).add(int(frm))
    out: dict[int, list[int]] = {}
    for ident in wanted:
        seen: set[int] = set()
        todo = list(into.get(ident, ()))
        while todo:
            j = todo.pop()
            if j in seen or j == ident:
                continue
            seen.add(j)
            todo.extend(into.get(j, ()))
        if seen:
            out[ident] = sorted(seen)
    return out


def surviving_identities(s: Session, identity_ids: Sequence[int]) -> set[int]:
    """The identities themselves plus every identity that absorbed one of them by a merge."""
    found = {int(i) for i in identity_ids}
    if not found:
        return found
    edges = [(int(f), int(t)) for f, t in s.execute(
        select(ClusterLineage.from_identity_id, ClusterLineage.to_identity_id)
        .where(ClusterLineage.kind == "merged")) if f is not None and t is not None]
    grew = True
    while grew:
        new = {t for f, t in edges if f in found and t not in found}
        found |= new
        grew = bool(new)
    return found


class NamingStore:
    def __init__(self, db: Database, viewer: Viewer) -> None:
        self.db = db
        self.viewer = viewer  # every read of items applies what this viewer may see

    # -- schemes -------------------------------------------------------------------------
    @staticmethod
    def _scheme_dict(sc: Scheme, stewards: list[str]) -> records.Scheme:
        return records.Scheme(id=sc.id, slug=sc.slug, name=sc.name, description=sc.description,
                              community=sc.community, rule=sc.rule, stewards=stewards, created_by=sc.created_by,
                              created_at=sc.created_at)

    def _stewards(self, s: Session, scheme_id: int) -> list[str]:
        return list(s.scalars(select(SchemeSteward.user_name).where(SchemeSteward.scheme_id == scheme_id)
                              .order_by(SchemeSteward.user_name)))

    def add_scheme(self, slug: str, name: str, rule: dict[str, Any], actor: str, description: str | None = None,
                   community: str | None = None, stewards: Sequence[str] = ()) -> records.Scheme:
        if not _SLUG.match(slug):
            raise InvalidInput("a scheme slug is lower-case letters, digits and dashes (max 64)", slug=slug)
        if not name.strip():
            raise InvalidInput("a scheme needs a name")
        rule = normalise_rule(rule)
        try:
            with self.db.session() as s:
                sc = Scheme(slug=slug, name=name.strip(), description=description, community=community, rule=rule,
                            created_by=actor)
                s.add(sc)
                s.flush()
                for u in sorted({u.strip() for u in stewards if u.strip()}):
                    s.add(SchemeSteward(scheme_id=sc.id, user_name=u))
                s.flush()
                return self._scheme_dict(sc, self._stewards(s, sc.id))
        except IntegrityError:
            raise Conflict(f"a scheme {slug!r} exists already", slug=slug) from None

    def add_steward(self, slug: str, user_name: str) -> records.Scheme:
        with self.db.session() as s:
            sc = self._scheme(s, slug)
            if user_name not in self._stewards(s, sc.id):
                s.add(SchemeSteward(scheme_id=sc.id, user_name=user_name))
                s.flush()
            return self._scheme_dict(sc, self._stewards(s, sc.id))

    def _scheme(self, s: Session, slug: str) -> Scheme:
        sc = s.scalar(select(Scheme).where(Scheme.slug == slug))
        if sc is None:
            raise NotFound(f"scheme {slug!r} not found", slug=slug)
        return sc

    def get_scheme(self, slug: str) -> records.Scheme:
        with self.db.session() as s:
            sc = self._scheme(s, slug)
            return self._scheme_dict(sc, self._stewards(s, sc.id))

    def list_schemes(self, limit: int, offset: int) -> tuple[list[records.Scheme], int]:
        with self.db.session() as s:
            total = int(s.scalar(select(func.count(Scheme.id))) or 0)
            rows = s.scalars(select(Scheme).order_by(Scheme.slug).limit(limit).offset(offset)).all()
            return [self._scheme_dict(r, self._stewards(s, r.id)) for r in rows], total

    # -- labels --------------------------------------------------------------------------
    @staticmethod
    def _label_dict(r: Label, net: int, scheme_slug: str) -> records.Label:
        return records.Label(id=r.id, scheme=scheme_slug, identity_id=r.identity_id, item_id=r.file_id,
                             text=r.text, lang=r.lang, description=r.description,
                             cultural_context=r.cultural_context, status=r.status, net_votes=net,
                             created_by=r.created_by, created_at=r.created_at)

    @staticmethod
    def _net_votes(s: Session, label_ids: Sequence[int]) -> dict[int, int]:
        if not label_ids:
            return {}
        rows = s.execute(select(LabelVote.label_id, func.sum(LabelVote.value))
                         .where(LabelVote.label_id.in_(list(label_ids))).group_by(LabelVote.label_id)).all()
        return {int(a): int(b or 0) for a, b in rows}

    def _label(self, s: Session, label_id: int) -> Label:
        """A label, unless it speaks of an item the viewer may not see: then it is as missing as the item."""
        row = s.get(Label, label_id)
        if row is None or (row.file_id is not None and s.scalar(
                select(AudioFile.id).where(AudioFile.id == row.file_id, visible_clause(self.viewer))) is None):
            raise NotFound(f"label {label_id} not found", id=label_id)
        return row

    def _label_out(self, s: Session, row: Label) -> records.Label:
        slug = s.scalar(select(Scheme.slug).where(Scheme.id == row.scheme_id)) or ""
        return self._label_dict(row, self._net_votes(s, [row.id]).get(row.id, 0), slug)

    @staticmethod
    def _log(s: Session, label_id: int, action: str, actor: str, **detail: Any) -> None:
        s.add(LabelHistory(label_id=label_id, action=action, actor=actor, detail=detail))

    def get_label(self, label_id: int) -> records.Label:
        with self.db.session() as s:
            return self._label_out(s, self._label(s, label_id))

    def propose_label(self, scheme: str, text: str, lang: str, actor: str, *, identity_id: int | None = None,
                      cluster_id: int | None = None, item_id: int | None = None, description: str | None = None,
                      cultural_context: str | None = None) -> records.Label:
        """A label for a cluster (its identity, so it survives re-clustering) or a single item."""
        if sum(x is not None for x in (identity_id, cluster_id, item_id)) != 1:
            raise InvalidInput("a label names exactly one of: identity_id, cluster_id, item_id")
        if not text.strip():
            raise InvalidInput("a label needs a text")
        if not valid_language_tag(lang):
            raise InvalidInput(f"{lang!r} is not a BCP 47 language tag (e.g. en, pt-BR, yo, zh-Hant)", lang=lang)
        with self.db.session() as s:
            sc = self._scheme(s, scheme)
            if cluster_id is not None:
                identity_id = s.scalar(select(Cluster.identity_id).where(Cluster.id == cluster_id))
                if identity_id is None:
                    raise NotFound(f"cluster {cluster_id} not found", id=cluster_id)
            elif identity_id is not None and s.get(ClusterIdentity, identity_id) is None:
                raise NotFound(f"cluster identity {identity_id} not found", id=identity_id)
            if item_id is not None and s.scalar(
                    select(AudioFile.id).where(AudioFile.id == item_id, visible_clause(self.viewer))) is None:
                raise NotFound(f"item {item_id} not found", id=item_id)
            row = Label(scheme_id=sc.id, identity_id=identity_id, file_id=item_id, text=text.strip(), lang=lang,
                        description=description, cultural_context=cultural_context, status="proposed",
                        created_by=actor)
            s.add(row)
            s.flush()
            self._log(s, row.id, "propose", actor, text=row.text, lang=lang, identity_id=identity_id,
                      item_id=item_id, description=description, cultural_context=cultural_context)
            return self._label_out(s, row)

    def vote(self, label_id: int, voter: str, value: int) -> records.Label:
        """One vote per voter (a new vote replaces the old); the scheme's net-vote rule may accept the label."""
        if value not in (1, -1):
            raise InvalidInput("a vote is +1 or -1", value=value)
        with self.db.session() as s:
            row = self._label(s, label_id)
            if row.status == "removed":
                raise Conflict(f"label {label_id} was removed", id=label_id)
            if row.created_by == voter:  # a proposer's own vote would let one person accept by themselves
                raise NotAllowed("you may not vote on a label you proposed", id=label_id)
            vote = s.scalar(select(LabelVote).where(LabelVote.label_id == label_id, LabelVote.voter == voter))
            before = vote.value if vote else None
            if vote is None:
                s.add(LabelVote(label_id=label_id, voter=voter, value=value))
            else:
                vote.value = value
            s.flush()
            self._log(s, label_id, "vote", voter, value=value, previous=before)
            net = self._net_votes(s, [label_id]).get(label_id, 0)
            rule = s.scalar(select(Scheme.rule).where(Scheme.id == row.scheme_id)) or {}
            need = rule.get("min_net_votes")
            if row.status == "proposed" and need is not None and net >= need:
                row.status = "accepted"
                self._log(s, label_id, "accept", voter, rule=rule, net_votes=net, by="rule")
            s.flush()
            return self._label_out(s, row)

    def accept(self, label_id: int, actor: str, override: bool = False) -> records.Label:
        """Accept by the scheme's rule: a steward (if the rule allows) or enough net votes; ``override`` for admins."""
        with self.db.session() as s:
            row = self._label(s, label_id)
            if row.status == "accepted":
                return self._label_out(s, row)
            if row.status == "removed":
                raise Conflict(f"label {label_id} was removed", id=label_id)
            if row.created_by == actor and not override:  # acceptance is someone else's judgement
                raise NotAllowed("you may not accept a label you proposed", id=label_id)
            sc = s.get(Scheme, row.scheme_id)
            assert sc is not None
            rule = sc.rule or {}
            net = self._net_votes(s, [label_id]).get(label_id, 0)
            is_steward = actor in self._stewards(s, sc.id)
            ok_votes = rule.get("min_net_votes") is not None and net >= rule["min_net_votes"]
            ok_steward = bool(rule.get("steward_approval")) and is_steward
            if not (ok_votes or ok_steward or override):
                if rule.get("steward_approval"):
                    raise NotAllowed(f"only a steward of {sc.slug!r} may accept its labels", scheme=sc.slug,
                                     stewards=self._stewards(s, sc.id))
                raise Conflict(f"label {label_id} has {net} net votes; the scheme needs {rule.get('min_net_votes')}",
                               net_votes=net, rule=rule)
            row.status = "accepted"
            by = "steward" if ok_steward else "rule" if ok_votes else "override"
            self._log(s, label_id, "accept", actor, rule=rule, net_votes=net, by=by)
            s.flush()
            return self._label_out(s, row)

    def _may_change(self, s: Session, row: Label, actor: str, privileged: bool) -> None:
        """A label's words belong to its proposer until accepted; after that, to the scheme's stewards
        (and moderators, ``privileged``): other editors vote, they do not rewrite or remove."""
        if privileged or actor in self._stewards(s, row.scheme_id):
            return
        if row.created_by == actor and row.status != "accepted":
            return
        raise NotAllowed("only the proposer (until it is accepted), a steward of the scheme or a moderator "
                         "may change or remove this label", label_id=row.id, status=row.status)

    def edit_label(self, label_id: int, actor: str, text: str | None = None, description: str | None = None,
                   cultural_context: str | None = None, privileged: bool = False) -> records.Label:
        with self.db.session() as s:
            row = self._label(s, label_id)
            self._may_change(s, row, actor, privileged)
            changes: dict[str, Any] = {}
            for field_name, value in (("text", text), ("description", description),
                                      ("cultural_context", cultural_context)):
                if value is not None and value != getattr(row, field_name):
                    if field_name == "text" and not value.strip():
                        raise InvalidInput("a label needs a text")
                    changes[field_name] = {"from": getattr(row, field_name), "to": value}
                    setattr(row, field_name, value)
            if changes:
                self._log(s, label_id, "edit", actor, changes=changes)
            s.flush()
            return self._label_out(s, row)

    def remove_label(self, label_id: int, actor: str, reason: str | None = None,
                     privileged: bool = False) -> records.Label:
        """Removal is a status: the label and its history stay for the record."""
        with self.db.session() as s:
            row = self._label(s, label_id)
            self._may_change(s, row, actor, privileged)
            if row.status != "removed":
                self._log(s, label_id, "remove", actor, reason=reason, previous_status=row.status)
                row.status = "removed"
            s.flush()
            return self._label_out(s, row)

    def link(self, label_id: int, other_label_id: int, kind: str, actor: str) -> records.Link:
        if kind not in LINK_KINDS:
            raise InvalidInput(f"a link is one of {', '.join(LINK_KINDS)}", kind=kind)
        if label_id == other_label_id:
            raise InvalidInput("a label cannot be linked to itself")
        with self.db.session() as s:
            a, b = self._label(s, label_id), self._label(s, other_label_id)
            if a.scheme_id == b.scheme_id:
                raise InvalidInput("links join labels of different schemes (SKOS mapping properties)")
            exists = s.scalar(select(LabelLink.id).where(LabelLink.label_id == label_id,
                                                         LabelLink.other_label_id == other_label_id,
                                                         LabelLink.kind == kind))
            if exists is None:
                s.add(LabelLink(label_id=label_id, other_label_id=other_label_id, kind=kind, created_by=actor))
                self._log(s, label_id, "link", actor, kind=kind, other_label_id=other_label_id)
            s.flush()
            return records.Link(label_id=label_id, other_label_id=other_label_id, kind=kind)

    def history(self, label_id: int, limit: int = 200, offset: int = 0) -> tuple[list[records.HistoryEntry], int]:
        with self.db.session() as s:
            self._label(s, label_id)
            total = int(s.scalar(select(func.count(LabelHistory.id)).where(LabelHistory.label_id == label_id)) or 0)
            rows = s.scalars(select(LabelHistory).where(LabelHistory.label_id == label_id)
                             .order_by(LabelHistory.id).limit(limit).offset(offset)).all()
            return [records.HistoryEntry(id=h.id, label_id=h.label_id, action=h.action, actor=h.actor,
                                         detail=h.detail or {}, at=h.at) for h in rows], total

    def labels_for_identity(self, identity_id: int) -> list[records.Label]:
        with self.db.session() as s:
            return self._labels_by_identity(s, [identity_id]).get(identity_id, [])

    # -- SKOS ----------------------------------------------------------------------------
    def skos_data(self, slug: str) -> records.SkosData:
        """A scheme's accepted labels grouped by concept (target), with links to other schemes' concepts."""
        with self.db.session() as s:
            sc = self._scheme(s, slug)
            labels = s.scalars(select(Label).where(
                Label.scheme_id == sc.id, Label.status == "accepted",
                Label.file_id.is_(None) | Label.file_id.in_(select(AudioFile.id).where(visible_clause(self.viewer))))
                .order_by(Label.id)).all()
            nets = self._net_votes(s, [r.id for r in labels])
            ids = [r.id for r in labels]
            links = s.scalars(select(LabelLink).where(
                LabelLink.label_id.in_(ids) | LabelLink.other_label_id.in_(ids)).order_by(LabelLink.id)).all() \
                if ids else []
            others = {r.id: r for r in s.scalars(select(Label).where(Label.id.in_(
                [lk.other_label_id for lk in links] + [lk.label_id for lk in links])))} if links else {}
            slugs = {int(i): str(sl) for i, sl in s.execute(select(Scheme.id, Scheme.slug)).all()}
            return records.SkosData(
                scheme=self._scheme_dict(sc, self._stewards(s, sc.id)),
                labels=[self._label_dict(r, nets.get(r.id, 0), slug) for r in labels],
                links=[
                    records.SkosLink(kind=lk.kind,
                                     from_=self._target(others[lk.label_id], slugs),
                                     to=self._target(others[lk.other_label_id], slugs))
                    for lk in links if others[lk.label_id].status != "removed"
                    and others[lk.other_label_id].status != "removed"
                ],
            )

    @staticmethod
    def _target(r: Label, slugs: dict[int, str]) -> records.Target:
        return records.Target(scheme=slugs[r.scheme_id], identity_id=r.identity_id, item_id=r.file_id)

    def _labels_by_identity(self, s: Session, identity_ids: Sequence[int],
                            with_absorbed: bool = False) -> dict[int, list[records.Label]]:
        """Labels (not removed) per identity; ``with_absorbed`` adds those of identities merged into it,
        marked with ``inherited_from_identity_id``."""
        out: dict[int, list[records.Label]] = {}
        if not identity_ids:
            return out
        absorbed = absorbed_identities(s, identity_ids) if with_absorbed else {}
        every = set(identity_ids) | {j for js in absorbed.values() for j in js}
        rows = s.scalars(select(Label).where(Label.identity_id.in_(sorted(every)), Label.status != "removed")
                         .order_by(Label.id)).all()
        nets = self._net_votes(s, [r.id for r in rows])
        slugs = {int(i): str(sl) for i, sl in s.execute(select(Scheme.id, Scheme.slug)).all()}
        own: dict[int, list[records.Label]] = {}
        for r in rows:
            assert r.identity_id is not None
            own.setdefault(r.identity_id, []).append(self._label_dict(r, nets.get(r.id, 0), slugs[r.scheme_id]))
        for ident in identity_ids:
            labs = list(own.get(ident, []))
            for j in absorbed.get(ident, []):
                labs += [lab.model_copy(update={"inherited_from_identity_id": j}) for lab in own.get(j, [])]
            if labs:
                out[ident] = labs
        return out
