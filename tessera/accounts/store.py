"""Users, roles and API keys: the queries behind them.

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

from tessera.accounts.models import ApiKey, User
from tessera.core.vocab import ROLE_RANK, ROLES

__all__ = ["ANONYMOUS", "OPERATOR", "ROLES", "ROLE_RANK", "AccountStore", "Principal"]
from tessera.core.audit import OPERATOR, audit
from tessera.core.db import Database
from tessera.core.errors import Conflict, InvalidInput, NotFound

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


def _audit(s: Any, actor: str | None, action: str, target_id: int | None, **detail: Any) -> None:
    audit(s, actor, action, "user", target_id, **detail)


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
