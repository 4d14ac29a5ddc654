"""Users, roles and API keys: the queries behind them.

Keys are 32 random bytes, so a plain SHA-256 of the key is a safe stored form
(a slow password hash buys nothing against a key with 256 bits of entropy).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
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


MIN_PASSWORD = 10
SESSION_HOURS = 12


@dataclass(frozen=True)
class ScryptCost:
    n: int
    r: int
    p: int

    @property
    def maxmem(self) -> int:
        # scrypt needs 128 * r * n bytes (plus a little); hashlib refuses more than 32 MiB unless told
        return 128 * self.r * self.n + 1024**2


# OWASP's minimum for scrypt: 128 MiB and a few hundred ms per check; passwords, unlike keys, are guessable
SCRYPT = ScryptCost(n=2**17, r=8, p=1)
LEGACY_SCRYPT = ScryptCost(n=2**14, r=8, p=1)  # hashes stored as scrypt$salt$digest, re-hashed at next sign-in
# each check holds 128 MiB: a burst of sign-ins must queue, not exhaust the machine's memory
_HASH_SLOTS = threading.BoundedSemaphore(2)


class PasswordHasher:
    """scrypt behind one method, so a test can count the work each sign-in path does."""

    def __init__(self, cost: ScryptCost = SCRYPT) -> None:
        self.cost = cost

    def kdf(self, password: str, salt: bytes, cost: ScryptCost) -> bytes:
        with _HASH_SLOTS:
            return hashlib.scrypt(password.encode(), salt=salt, n=cost.n, r=cost.r, p=cost.p, dklen=32,
                                  maxmem=cost.maxmem)

    def hash(self, password: str) -> str:
        salt, c = secrets.token_bytes(16), self.cost
        return f"scrypt${c.n}${c.r}${c.p}${salt.hex()}${self.kdf(password, salt, c).hex()}"

    def check(self, password: str, stored: str | None) -> tuple[bool, bool]:
        """(right password, stored hash should be re-made at the current cost).

        A missing user or password costs one hash at the current cost, like a wrong password does, so the
        answer's timing does not tell which names exist.
        """
        parsed = _parse(stored)
        if parsed is None:
            self.kdf(password, b"\0" * 16, self.cost)
            return False, False
        cost, salt, digest = parsed
        ok = secrets.compare_digest(self.kdf(password, salt, cost), digest)
        return ok, ok and cost != self.cost


def _parse(stored: str | None) -> tuple[ScryptCost, bytes, bytes] | None:
    parts = (stored or "").split("$")
    try:
        if len(parts) == 3 and parts[0] == "scrypt":
            return LEGACY_SCRYPT, bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
        if len(parts) == 6 and parts[0] == "scrypt":
            cost = ScryptCost(int(parts[1]), int(parts[2]), int(parts[3]))
            return cost, bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
    except ValueError:
        return None
    return None


def _audit(s: Any, actor: str | None, action: str, target_id: int | None, **detail: Any) -> None:
    audit(s, actor, action, "user", target_id, **detail)


class AccountStore:
    def __init__(self, db: Database, hasher: PasswordHasher | None = None) -> None:
        self.db = db
        self.hasher = hasher or PasswordHasher()

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
            u.password_hash = self.hasher.hash(password)
            # a reset is how a stolen password is taken back: the sessions signed in with it end too
            now = datetime.now(UTC)
            for k in s.scalars(select(ApiKey).where(ApiKey.user_id == u.id, ApiKey.kind == "session",
                                                    ApiKey.revoked_at.is_(None))):
                k.revoked_at = now
            _audit(s, None, "password_set", u.id, user=name)

    def login(self, name: str, password: str) -> tuple[str, Principal, datetime] | None:
        """A session key (expires after SESSION_HOURS) for a right name and password, else None."""
        with self.db.session() as s:
            u = s.scalar(select(User).where(User.name == name))
            stored = u.password_hash if u is not None else None
        ok, stale = self.hasher.check(password, stored)
        if u is None or not ok:
            return None
        if stale:  # an older, cheaper hash: re-made at the current cost now that the password is known
            with self.db.session() as s:
                row = s.scalar(select(User).where(User.name == name))
                if row is not None and row.password_hash == stored:
                    row.password_hash = self.hasher.hash(password)
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
