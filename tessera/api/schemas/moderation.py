"""Answers of the consent, accounts and moderation endpoints (reports and audit entries are the
accounts stage's records, protocol labels the catalogue's)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tessera.accounts.moderation import AuditRecord, ReportRecord
from tessera.api.schemas.common import PageOf
from tessera.catalog.protocols import ProtocolLabelRecord
from tessera.core.vocab import OptOutKind, Role

ReportPage = PageOf[ReportRecord]
AuditPage = PageOf[AuditRecord]
ProtocolLabelPage = PageOf[ProtocolLabelRecord]


class DatasetVersionRef(BaseModel):
    dataset_id: int
    version: int


class WithdrawalOut(BaseModel):
    withdrawn: list[int] = Field(description="the items whose consent was withdrawn")
    deleted_cache_files: int
    index_build: str | None = Field(description="the index build without them")
    dataset_versions: list[DatasetVersionRef] = Field(description="new versions of the datasets that held them")


class PeriodOut(BaseModel):
    files: list[int]
    expires_at: datetime | None


class ConsentEventOut(BaseModel):
    id: int
    scope: str
    target: str
    action: str
    actor: str | None
    reason: str | None
    expires_at: datetime | None
    files: list[int]
    at: datetime | None


class OptOutCreated(BaseModel):
    id: int
    kinds: list[OptOutKind] = Field(description="every opt-out kind")


class OptOutOut(BaseModel):
    id: int
    kind: OptOutKind
    value: str
    reason: str | None
    created_by: str | None
    created_at: datetime | None


class UserCreated(BaseModel):
    id: int
    name: str
    role: Role


class UserRow(BaseModel):
    name: str
    role: Role
    keys: list[str] = Field(description="prefixes of the user's active keys")


class KeyIssued(BaseModel):
    key: str = Field(description="the key: shown only this once")
    roles: list[str]


class KeyRevoked(BaseModel):
    revoked: str


class UserOut(BaseModel):
    name: str | None
    role: str
    communities: list[str] = []


class Session(BaseModel):
    token: str
    user: UserOut
    expires_at: datetime


class SignedOut(BaseModel):
    signed_out: bool


class Communities(BaseModel):
    name: str
    communities: list[str]


class Purged(BaseModel):
    purged: int


class Removed(BaseModel):
    removed: int


class ProtocolKind(BaseModel):
    code: str
    name: str
    restricts: bool
    seasonal: bool


class RejectedOut(BaseModel):
    id: int
    kind: str
    identifier: str
    filename: str | None
    reason: str
    detail: str | None
    url: str | None
    seen_at: datetime | None


ConsentEventPage = PageOf[ConsentEventOut]
OptOutPage = PageOf[OptOutOut]
UserPage = PageOf[UserRow]
RejectedPage = PageOf[RejectedOut]
