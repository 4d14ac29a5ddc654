"""Users, roles, API keys and the opt-out registry: the queries behind them.

Keys are 32 random bytes, so a plain SHA-256 of the key is a safe stored form
(a slow password hash buys nothing against a key with 256 bits of entropy).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from tessera.catalog.accounts_models import ApiKey, OptOut, User
from tessera.catalog.db import Database
from tessera.catalog.errors import Conflict, InvalidInput, NotFound

# Ordered by what they may do; a steward is an editor with stewardship of given schemes.
ROLES = ("editor", "moderator", "admin")
ROLE_RANK = {"anonymous": 0, "editor": 1, "moderator": 2, "admin": 3}
OPT_OUT_KINDS = ("creator", "orcid", "ia_uploader", "zenodo_community")
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,128}$")


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user with a role, or the anonymous public."""

    name: str
    role: str

    def at_least(self, role: str) -> bool:
        return ROLE_RANK.get(self.role, 0) >= ROLE_RANK[role]


ANONYMOUS = Principal("anonymous", "anonymous")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def normalise_opt_out(kind: str, value: str) -> str:
    v = " ".join(value.strip().split()).lower()
    if kind == "orcid":
        v = v.removeprefix("https://orcid.org/").removeprefix("http://orcid.org/")
    return v


class AccountStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add_user(self, name: str, role: str) -> int:
        if not _NAME.match(name):
            raise InvalidInput("a user name is 1-128 letters, digits or _.@-", name=name)
        if role not in ROLES:
            raise InvalidInput(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        with self.db.session() as s:
            if s.scalar(select(User).where(User.name == name)) is not None:
                raise Conflict(f"user {name!r} exists")
            u = User(name=name, role=role)
            s.add(u)
            s.flush()
            return u.id

    def set_role(self, name: str, role: str) -> None:
        if role not in ROLES:
            raise InvalidInput(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        with self.db.session() as s:
            u = s.scalar(select(User).where(User.name == name))
            if u is None:
                raise NotFound(f"no user {name!r}")
            u.role = role

    def issue_key(self, name: str) -> str:
        """A new key for the user; the only time the plain key exists outside the client."""
        with self.db.session() as s:
            u = s.scalar(select(User).where(User.name == name))
            if u is None:
                raise NotFound(f"no user {name!r}")
            prefix = secrets.token_hex(4)
            key = f"tsr_{prefix}_{secrets.token_urlsafe(32)}"
            s.add(ApiKey(user_id=u.id, prefix=prefix, key_hash=hash_key(key)))
            return key

    def revoke_key(self, prefix: str) -> None:
        with self.db.session() as s:
            k = s.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
            if k is None:
                raise NotFound(f"no key with prefix {prefix!r}")
            k.revoked_at = datetime.now(UTC)

    def authenticate(self, key: str) -> Principal | None:
        with self.db.session() as s:
            row = s.execute(
                select(User.name, User.role).join(ApiKey, ApiKey.user_id == User.id)
                .where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
            ).first()
            return Principal(row.name, row.role) if row else None

    def list_users(self) -> list[tuple[str, str, list[str]]]:
        with self.db.session() as s:
            out = []
            for u in s.scalars(select(User).order_by(User.name)):
                keys = list(s.scalars(select(ApiKey.prefix).where(ApiKey.user_id == u.id,
                                                                   ApiKey.revoked_at.is_(None))))
                out.append((u.name, u.role, keys))
            return out

    # -- opt-out registry ---------------------------------------------------------------
    def add_opt_out(self, kind: str, value: str, reason: str | None, by: str | None) -> int:
        if kind not in OPT_OUT_KINDS:
            raise InvalidInput(f"unknown opt-out kind {kind!r}; one of {', '.join(OPT_OUT_KINDS)}")
        v = normalise_opt_out(kind, value)
        if not v:
            raise InvalidInput("an opt-out needs a value")
        with self.db.session() as s:
            row = s.scalar(select(OptOut).where(OptOut.kind == kind, OptOut.value == v))
            if row is None:
                row = OptOut(kind=kind, value=v, reason=reason, created_by=by)
                s.add(row)
                s.flush()
            return row.id

    def list_opt_outs(self) -> list[OptOut]:
        with self.db.session() as s:
            return list(s.scalars(select(OptOut).order_by(OptOut.id)))

    def opted_out(self, **values: str | list[str] | None) -> str | None:
        """The first opt-out entry matching any of creator=, orcid=, ia_uploader=, zenodo_community=."""
        wanted: list[tuple[str, str]] = []
        for kind, v in values.items():
            if kind not in OPT_OUT_KINDS or not v:
                continue
            for one in [v] if isinstance(v, str) else v:
                if one:
                    wanted.append((kind, normalise_opt_out(kind, one)))
        if not wanted:
            return None
        with self.db.session() as s:
            for kind, v in wanted:
                if s.scalar(select(OptOut.id).where(OptOut.kind == kind, OptOut.value == v)) is not None:
                    return f"{kind}:{v}"
        return None
