"""Finding 10 (accounts): sign-in reveals no user names, a reset ends sessions, scrypt at OWASP's cost."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from tessera.accounts.models import User
from tessera.accounts.store import LEGACY_SCRYPT, SCRYPT, AccountStore, PasswordHasher, ScryptCost
from tessera.core.db import Database
from tests.security.conftest import PASSWORD, Server, bearer


class CountingHasher(PasswordHasher):
    """The real scrypt, recording the cost of every call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[ScryptCost] = []

    def kdf(self, password: str, salt: bytes, cost: ScryptCost) -> bytes:
        self.calls.append(cost)
        return super().kdf(password, salt, cost)


def _store(tmp_path: Path) -> tuple[AccountStore, CountingHasher]:
    db = Database(f"sqlite:///{tmp_path / 'accounts.sqlite'}")
    db.migrate()
    hasher = CountingHasher()
    return AccountStore(db, hasher), hasher


def test_scrypt_cost_is_at_least_owasp_minimum() -> None:
    assert SCRYPT.n >= 2**17 and SCRYPT.r >= 8 and SCRYPT.maxmem >= 128 * SCRYPT.r * SCRYPT.n


def test_a_missing_user_costs_the_same_hash_as_a_wrong_password(tmp_path: Path) -> None:
    accounts, hasher = _store(tmp_path)
    accounts.add_user("ana", "editor")
    accounts.add_user("nopass", "editor")  # a user who never set a password
    accounts.set_password("ana", PASSWORD)
    work = {}
    for name, password in (("ana", "wrong password"), ("nobody", "wrong password"), ("nopass", "whatever x")):
        hasher.calls.clear()
        assert accounts.login(name, password) is None
        work[name] = list(hasher.calls)
    assert work["ana"] == work["nobody"] == work["nopass"] == [SCRYPT]


def test_old_hashes_are_rehashed_at_the_next_sign_in(tmp_path: Path) -> None:
    accounts, hasher = _store(tmp_path)
    accounts.add_user("ana", "editor")
    salt = secrets.token_bytes(16)
    old = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=LEGACY_SCRYPT.n, r=LEGACY_SCRYPT.r, p=LEGACY_SCRYPT.p,
                         dklen=32)
    with accounts.db.session() as s:
        u = s.scalar(select(User).where(User.name == "ana"))
        assert u is not None
        u.password_hash = f"scrypt${salt.hex()}${old.hex()}"  # the format hashes were stored in before
    assert accounts.login("ana", "wrong password") is None  # a wrong password changes nothing
    assert accounts.login("ana", PASSWORD) is not None
    with accounts.db.session() as s:
        stored = s.scalar(select(User.password_hash).where(User.name == "ana"))
    assert stored is not None and stored.startswith(f"scrypt${SCRYPT.n}${SCRYPT.r}${SCRYPT.p}$")
    hasher.calls.clear()
    assert accounts.login("ana", PASSWORD) is not None
    assert hasher.calls == [SCRYPT]  # checked at the new cost, not re-made again


def test_a_password_reset_ends_the_users_sessions(serve: Callable[..., Server]) -> None:
    srv = serve()
    with srv.client() as c:
        token = c.post("/api/login", json={"name": "ben", "password": PASSWORD}).json()["token"]
        assert c.get("/api/me", headers=bearer(token)).json()["name"] == "ben"
        AccountStore(srv.db).set_password("ben", "a brand new password")
        assert c.get("/api/me", headers=bearer(token)).status_code == 401
        # long-lived API keys are revoked only explicitly; the new password signs in
        assert c.get("/api/me", headers=bearer(srv.keys["ben"])).json()["name"] == "ben"
        assert c.post("/api/login", json={"name": "ben", "password": "a brand new password"}).status_code == 200
