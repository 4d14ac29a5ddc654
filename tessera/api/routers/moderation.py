"""Sign-in for the web app, reports and the moderation queue, the audit log, cultural protocol labels."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from tessera.accounts.moderation import AuditRecord, ReportRecord
from tessera.accounts.store import Principal
from tessera.api.auth import current, require
from tessera.api.deps import AccountsDep, ConsentDep, ModerationDep, Paged, ProtocolsDep, TaxonomyDep, page
from tessera.api.errors import problems
from tessera.api.schemas import ID_MAX, DbId, PageOf
from tessera.api.schemas.moderation import (
    Communities,
    ProtocolKind,
    Purged,
    Removed,
    Session,
    SignedOut,
    UserOut,
)
from tessera.catalog.protocols import ProtocolLabelRecord
from tessera.core.errors import Conflict, InvalidInput, RateLimited, Unauthorized
from tessera.core.vocab import KINDS

router = APIRouter(prefix="/api", tags=["moderation"])

Moderator = Annotated[Principal, Depends(require("moderator"))]
Admin = Annotated[Principal, Depends(require("admin"))]
Id = Annotated[int, PathParam(ge=1, le=ID_MAX)]
MonthDay = Annotated[str, Field(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]


Store = ModerationDep
Accounts = AccountsDep


# -- sign-in ------------------------------------------------------------------------------
class LoginIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)


@router.post("/login", summary="Sign in with a name and password; answers a session key (12 h)")
def login(request: Request, body: LoginIn, accounts: Accounts) -> Session:
    # per account, not per address: a guesser with many addresses still gets N tries a minute per name;
    # checked before hashing, and for names that do not exist too, so the 429 reveals nothing either
    failures = request.app.state.login_failures
    if wait := failures.wait(body.name.casefold()):
        retry = max(1, math.ceil(wait))
        raise RateLimited(f"too many failed sign-ins for this name; try again in {retry} s", retry_after=retry)
    got = accounts.login(body.name, body.password)
    if got is None:
        failures.hit(body.name.casefold())
        raise Unauthorized("wrong name or password")
    key, who, expires = got
    return Session(token=key, user=UserOut(name=who.name, role=who.role, communities=list(who.communities)),
                   expires_at=expires)


@router.post("/logout", summary="End this session (revokes the key it was made with)")
def logout(request: Request, accounts: Accounts) -> SignedOut:
    _, _, token = (request.headers.get("authorization") or "").partition(" ")
    if token:
        accounts.logout(token.strip())
    return SignedOut(signed_out=True)


@router.get("/me", response_model=UserOut, summary="Who the request is made as")
def me(request: Request) -> UserOut:
    p = current(request)
    return UserOut(name=None if p.role == "anonymous" else p.name, role=p.role, communities=list(p.communities))


class CommunitiesIn(BaseModel):
    communities: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(max_length=100)


@router.put("/users/{name}/communities", summary="The communities a user belongs to (admins)",
            responses=problems(403, 404))
def set_communities(name: Annotated[str, PathParam(max_length=128)], body: CommunitiesIn, who: Admin,
                    accounts: Accounts, store: Store) -> Communities:
    accounts.set_communities(name, body.communities)
    store.audit(who.name, "user_communities_set", "user", None, user=name, communities=body.communities)
    return Communities(name=name, communities=sorted(set(body.communities)))


# -- reports ------------------------------------------------------------------------------
class ReportIn(BaseModel):
    target_kind: Literal["item", "label"]
    target_id: DbId
    reason: Literal["wrong_licence", "harmful", "cultural_sensitivity", "other"]
    text: str | None = Field(default=None, max_length=5000)


class ResolveIn(BaseModel):
    action: Literal["dismiss", "no_change", "withdraw_item", "remove_label", "purge_label"] = Field(
        description="dismiss: not a problem; no_change: resolved elsewhere; withdraw_item: consent withdrawn for "
        "the reported item; remove_label / purge_label: remove the reported label (purge also erases its words "
        "and history content)")
    note: str | None = Field(default=None, max_length=5000)


@router.post("/reports", status_code=201, summary="Report an item or a label (anyone)", responses=problems(404))
def report(body: ReportIn, request: Request, store: Store) -> ReportRecord:
    p = current(request)
    return store.report(body.target_kind, body.target_id, body.reason, body.text,
                        "anonymous" if p.role == "anonymous" else p.name)


@router.get("/reports", summary="The moderation queue, oldest first (moderators)", responses=problems(403))
def list_reports(request: Request, who: Moderator, store: Store,
                 pg: Paged, status: Literal["open", "resolved", "dismissed"] | None = "open") -> PageOf[ReportRecord]:
    items, total = store.list_reports(status, pg.limit, pg.offset)
    return page(request, items, total, pg.limit, pg.offset)


@router.get("/reports/{report_id}", summary="One report (moderators)", responses=problems(403, 404))
def get_report(report_id: Id, who: Moderator, store: Store) -> ReportRecord:
    return store.get_report(report_id)


@router.post("/reports/{report_id}/resolve", summary="Act on a report (moderators); every action is audited",
             responses=problems(403, 404, 409))
def resolve(report_id: Id, body: ResolveIn, who: Moderator, store: Store, consent: ConsentDep,
            taxonomy: TaxonomyDep) -> ReportRecord:
    r = store.get_report(report_id)
    if r.status != "open":
        raise Conflict(f"report {report_id} is already {r.status}", report_status=r.status)
    kind = r.target_kind
    if body.action == "withdraw_item":
        if kind != "item":
            raise InvalidInput("withdraw_item acts on item reports")
        consent.withdraw("file", str(r.target_id), who.name, f"report {report_id}: {r.reason}")
    elif body.action in ("remove_label", "purge_label"):
        if kind != "label":
            raise InvalidInput(f"{body.action} acts on label reports")
        if body.action == "purge_label":
            store.purge_label(r.target_id, who.name, body.note)
        else:
            taxonomy.remove_label(r.target_id, who.name, f"report {report_id}", privileged=True)
    status = "dismissed" if body.action == "dismiss" else "resolved"
    return store.close_report(report_id, status, body.action, body.note, who.name)


@router.post("/labels/{label_id}/purge", summary="Erase a label's words and history content (moderators)",
             responses=problems(403, 404))
def purge_label(label_id: Id, who: Moderator, store: Store,
                reason: Annotated[str | None, Query(max_length=2000)] = None) -> Purged:
    store.purge_label(label_id, who.name, reason)
    return Purged(purged=label_id)


@router.get("/audit", summary="Every moderation action: who, what, when, why (moderators)", responses=problems(403))
def audit(request: Request, who: Moderator, store: Store, pg: Paged) -> PageOf[AuditRecord]:
    items, total = store.list_audit(pg.limit, pg.offset)
    return page(request, items, total, pg.limit, pg.offset)


# -- cultural protocol labels -------------------------------------------------------------
class ProtocolIn(BaseModel):
    target_kind: Literal["item", "record", "dataset"]
    target_id: DbId
    code: str = Field(min_length=1, max_length=48, description="a Local Contexts label, see GET /api/protocol-kinds")
    community: str = Field(min_length=1, max_length=256)
    text: str | None = Field(default=None, max_length=5000, description="the community's own words")
    season_start: MonthDay | None = None
    season_end: MonthDay | None = None


@router.get("/protocol-kinds", summary="The Local Contexts TK/BC labels and notices Tessera knows")
def protocol_kinds() -> list[ProtocolKind]:
    return [ProtocolKind(code=k.code, name=k.name, restricts=k.restricts, seasonal=k.seasonal)
            for k in KINDS.values()]


@router.get("/protocol-labels", summary="Cultural protocol labels, optionally of one target",
            responses=problems(403))
def list_protocol_labels(request: Request, store: ProtocolsDep, pg: Paged,
                         target_kind: Literal["item", "record", "dataset"] | None = None,
                         target_id: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None
                         ) -> PageOf[ProtocolLabelRecord]:
    items, total = store.protocol_labels(target_kind, target_id, pg.limit, pg.offset)
    return page(request, items, total, pg.limit, pg.offset)


@router.post("/protocol-labels", status_code=201, summary="Put a TK/BC label on an item, record or dataset "
             "(moderators, on behalf of the community)", responses=problems(403, 404))
def add_protocol_label(body: ProtocolIn, who: Moderator, store: ProtocolsDep) -> ProtocolLabelRecord:
    return store.add_protocol_label(body.target_kind, body.target_id, body.code, body.community, body.text,
                                    who.name, body.season_start, body.season_end)


@router.delete("/protocol-labels/{label_id}", summary="Take a protocol label off (moderators)",
               responses=problems(403, 404))
def remove_protocol_label(label_id: Id, who: Moderator, store: ProtocolsDep) -> Removed:
    store.remove_protocol_label(label_id, who.name)
    return Removed(removed=label_id)
