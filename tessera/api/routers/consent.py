"""Consent, opt-outs and accounts: the moderators' and admins' endpoints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field, field_validator

from tessera.accounts.store import Principal
from tessera.api.auth import require
from tessera.api.deps import AccountsDep, ConsentDep, Paged, page
from tessera.api.errors import problems
from tessera.api.schemas import PageOf
from tessera.api.schemas.moderation import (
    ConsentEventOut,
    DatasetVersionRef,
    KeyIssued,
    KeyRevoked,
    OptOutCreated,
    OptOutOut,
    PeriodOut,
    UserCreated,
    UserRow,
    WithdrawalOut,
)
from tessera.core.vocab import OPT_OUT_KINDS, ROLES, ConsentScope, OptOutKind, Role

router = APIRouter(prefix="/api", tags=["consent and accounts"])

Moderator = Annotated[Principal, Depends(require("moderator"))]
Admin = Annotated[Principal, Depends(require("admin"))]


class ConsentTarget(BaseModel):
    scope: ConsentScope = Field(description="one file, a source record, or a creator")
    target: str = Field(min_length=1, max_length=512, description="item id, record id or creator name")
    reason: str | None = Field(default=None, max_length=2000)

    @field_validator("target")
    @classmethod
    def _ids_are_numbers(cls, v: str, info: Any) -> str:
        if info.data.get("scope") in ("file", "record") and not v.strip().isdigit():
            raise ValueError("file and record targets are integer ids")
        return v.strip()


class ConsentPeriod(ConsentTarget):
    expires_at: datetime | None = Field(description="ISO 8601; consent lapses by itself at this time")

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        return v.replace(tzinfo=UTC) if v is not None and v.tzinfo is None else v


@router.post("/consent/withdrawals", status_code=201, summary="Withdraw consent (moderators, for rights holders)",
             responses=problems(403, 404))
def withdraw(body: ConsentTarget, who: Moderator, consent: ConsentDep) -> WithdrawalOut:
    w = consent.withdraw(body.scope, body.target, who.name, body.reason)
    return WithdrawalOut(withdrawn=w.file_ids, deleted_cache_files=w.deleted_cache_files, index_build=w.index_build,
                         dataset_versions=[DatasetVersionRef(dataset_id=d, version=v) for d, v in w.dataset_versions])


@router.post("/consent/periods", status_code=201, summary="Give consent for a period (it expires by itself)",
             responses=problems(403, 404))
def period(body: ConsentPeriod, who: Moderator, consent: ConsentDep) -> PeriodOut:
    ids = consent.set_period(body.scope, body.target, body.expires_at, who.name, body.reason)
    return PeriodOut(files=ids, expires_at=body.expires_at)


@router.get("/consent/events", summary="The consent audit log (no content, only who/what/when/why)",
            responses=problems(403))
def events(request: Request, _: Moderator, consent: ConsentDep, pg: Paged) -> PageOf[ConsentEventOut]:
    limit, offset = pg.limit, pg.offset
    evs = consent.events()
    items = [ConsentEventOut(id=e.id, scope=e.scope, target=e.target, action=e.action, actor=e.actor,
                             reason=e.reason, expires_at=e.expires_at, files=e.file_ids or [], at=e.at)
             for e in evs[offset:offset + limit]]
    return page(request, items, len(evs), limit, offset)


class OptOutIn(BaseModel):
    kind: OptOutKind
    value: str = Field(min_length=1, max_length=512)
    reason: str | None = Field(default=None, max_length=2000)


@router.post("/opt-outs", status_code=201, summary="Stop future crawls from harvesting these works",
             responses=problems(403, 409))
def add_opt_out(body: OptOutIn, who: Moderator, consent: ConsentDep) -> OptOutCreated:
    return OptOutCreated(id=consent.add_opt_out(body.kind, body.value, body.reason, who.name),
                         kinds=list(OPT_OUT_KINDS))


@router.get("/opt-outs", summary="The opt-out registry", responses=problems(403))
def list_opt_outs(request: Request, _: Moderator, consent: ConsentDep, pg: Paged) -> PageOf[OptOutOut]:
    limit, offset = pg.limit, pg.offset
    rows = consent.opt_outs()
    items = [OptOutOut.model_validate({"id": r.id, "kind": r.kind, "value": r.value, "reason": r.reason,
                                       "created_by": r.created_by, "created_at": r.created_at})
             for r in rows[offset:offset + limit]]
    return page(request, items, len(rows), limit, offset)


class UserIn(BaseModel):
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.@-]+$")
    role: Role


@router.post("/users", status_code=201, summary="Create a user (admins)", responses=problems(403, 409))
def add_user(body: UserIn, who: Admin, accounts: AccountsDep) -> UserCreated:
    return UserCreated(id=accounts.add_user(body.name, body.role, actor=who.name), name=body.name, role=body.role)


@router.get("/users", summary="Users, roles and their active key prefixes (admins)", responses=problems(403))
def users(request: Request, _: Admin, accounts: AccountsDep,
          pg: Paged) -> PageOf[UserRow]:
    rows = accounts.list_users()
    items = [UserRow.model_validate({"name": n, "role": r, "keys": k})
             for n, r, k in rows[pg.offset:pg.offset + pg.limit]]
    return page(request, items, len(rows), pg.limit, pg.offset)


@router.post("/users/{name}/keys", status_code=201, summary="Issue an API key; shown once (admins)",
             responses=problems(403, 404))
def issue_key(name: Annotated[str, PathParam(max_length=128)], who: Admin,
              accounts: AccountsDep) -> KeyIssued:
    return KeyIssued(key=accounts.issue_key(name, actor=who.name), roles=list(ROLES))


@router.delete("/keys/{prefix}", summary="Revoke an API key (admins)", responses=problems(403, 404))
def revoke_key(prefix: Annotated[str, PathParam(max_length=16)], who: Admin,
               accounts: AccountsDep) -> KeyRevoked:
    accounts.revoke_key(prefix, actor=who.name)
    return KeyRevoked(revoked=prefix)
