"""Users, roles, API keys and the opt-out registry: the queries behind them.

Keys are 32 random bytes, so a plain SHA-256 of the key is a safe stored form
(a slow password hash buys nothing against a key with 256 bits of entropy).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select

from tessera.catalog.accounts_models import ApiKey, OptOut, User
from tessera.catalog.db import Database
from tessera.catalog.errors import Conflict, InvalidInput, NotFound
from tessera.catalog.moderation_models import AuditEntry

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
    communities: tuple[str, ...] = ()

    def at_least(self, role: str) -> bool:
        return ROLE_RANK.get(self.role, 0) >= ROLE_RANK[role]


ANONYMOUS = Principal("anonymous", "anonymous")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


# scrypt with n=2**14, r=8: ~16 MiB and tens of ms per check; passwords, unlike keys, are guessable
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MIN_PASSWORD = 10
SESSION_HOURS = 12


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        hashlib.scrypt(password.encode(), salt=b"0" * 16, dklen=32, **_SCRYPT)  # same cost: no user oracle
        return False
    _, salt, digest = stored.split("$")
    got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), dklen=32, **_SCRYPT)
    return secrets.compare_digest(got.hex(), digest)


def normalise_opt_out(kind: str, value: str) -> str:
    v = " ".join(value.strip().split()).lower()
    if kind == "orcid":
        v = v.removeprefix("https://orcid.org/").removeprefix("http://orcid.org/")
    return v


OPERATOR = "operator"  # the actor recorded when the CLI (someone at the machine) acts


def _audit(s: Any, actor: str | None, action: str, target_id: int | None, **detail: Any) -> None:
    """Account changes are audited in the same transaction: who, what, when; never a key or password."""
    s.add(AuditEntry(actor=actor or OPERATOR, action=action, target_kind="user", target_id=target_id,
                     detail=detail))


class AccountStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add_user(self, name: str, role: str, actor: str | None = None) -> int:
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
            _audit(s, actor, "user_created", u.id, user=name, role=role)
            return u.id

    def set_role(self, name: str, role: str, actor: str | None = None) -> None:
        if role not in ROLES:
            raise InvalidInput(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        with self.db.session() as s:
            u = s.scalar(select(User).where(User.name == name))
            if u is None:
                raise NotFound(f"no user {name!r}")
            _audit(s, actor, "user_role_set", u.id, user=name, role=role, previous_role=u.role)
            u.role = role

    def issue_key(self, name: str, kind: str = "key", expires_at: datetime | None = None,
                  actor: str | None = None) -> str:
        """A new key for the user; the only time the plain key exists outside the client."""
        with self.db.session() as s:
            u = s.scalar(select(User).where(User.name == name))
            if u is None:
                raise NotFound(f"no user {name!r}")
            prefix = secrets.token_hex(4)
            key = f"tsr_{prefix}_{secrets.token_urlsafe(32)}"
            s.add(ApiKey(user_id=u.id, prefix=prefix, key_hash=hash_key(key), kind=kind, expires_at=expires_at))
            if kind == "key":  # web sessions come and go with every sign-in: not worth an audit line each
                _audit(s, actor, "key_issued", u.id, user=name, prefix=prefix)
            return key

    def set_password(self, name: str, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise InvalidInput(f"a password has at least {MIN_PASSWORD} characters")
        with self.db.session() as s:
            u = s.scalar(select(User).where(User.name == name))
            if u is None:
                raise NotFound(f"no user {name!r}")
            u.password_hash = hash_password(password)

    def login(self, name: str, password: str) -> tuple[str, Principal, datetime] | None:
        """A session key (expires after SESSION_HOURS) for a right name and password, else None."""
        with self.db.session() as s:
            u = s.scalar(select(User).where(User.name == name))
            stored = u.password_hash if u is not None else None
        if u is None or not check_password(password, stored):
            return None
        expires = datetime.now(UTC) + timedelta(hours=SESSION_HOURS)
        key = self.issue_key(name, kind="session", expires_at=expires)
        return key, Principal(u.name, u.role, tuple(u.communities or ())), expires

    def logout(self, key: str) -> None:
        """End a web session; long-lived API keys are only revoked explicitly (``revoke_key``)."""
        with self.db.session() as s:
            k = s.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key), ApiKey.kind == "session"))
            if k is not None and k.revoked_at is None:
                k.revoked_at = datetime.now(UTC)

    def set_communities(self, name: str, communities: list[str]) -> None:
        """The communities a user belongs to (as named on protocol labels): they see that community's material."""
        clean = sorted({c.strip() for c in communities if c.strip()})
        with self.db.session() as s:
            u = s.scalar(select(User).where(User.name == name))
            if u is None:
                raise NotFound(f"no user {name!r}")
            u.communities = clean

    def revoke_key(self, prefix: str, actor: str | None = None) -> None:
        with self.db.session() as s:
            k = s.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
            if k is None:
                raise NotFound(f"no key with prefix {prefix!r}")
            if k.revoked_at is None:
                _audit(s, actor, "key_revoked", k.user_id, prefix=prefix, kind=k.kind)
            k.revoked_at = datetime.now(UTC)

    def authenticate(self, key: str) -> Principal | None:
        with self.db.session() as s:
            row = s.execute(
                select(User.name, User.role, User.communities).join(ApiKey, ApiKey.user_id == User.id)
                .where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None),
                       or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > datetime.now(UTC)))
            ).first()
            return Principal(row.name, row.role, tuple(row.communities or ())) if row else None

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
                # the audit names the kind only: the value may be a person's e-mail or name
                s.add(AuditEntry(actor=by or OPERATOR, action="opt_out_added", target_kind="opt_out",
                                 target_id=row.id, detail={"kind": kind, "reason": reason}))
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
