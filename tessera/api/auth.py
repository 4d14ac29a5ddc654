"""Who is calling, what they may do, and how often they may ask.

A bearer token is either a user's API key or the bootstrap editor token from
settings. Rate limits are kept per key and per client address in a sliding
window in this process (one API process per machine is the low-resource
default; a shared store is the upgrade path for several).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from tessera.accounts.store import ANONYMOUS, AccountStore, Principal
from tessera.api.clientaddr import client_address, networks
from tessera.api.errors import answer
from tessera.catalog.visibility import OPERATOR, PUBLIC, Viewer
from tessera.core.errors import Forbidden, RateLimited, Unauthorized
from tessera.core.settings import Settings


class SlidingWindow:
    """At most ``limit`` events per ``window`` seconds per key; the clock is injectable for tests."""

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _wait(self, q: deque[float], now: float) -> float:
        while q and q[0] <= now - self.window:
            q.popleft()
        return max(q[0] + self.window - now, 0.001) if len(q) >= self.limit else 0.0

    def wait(self, key: str) -> float:
        """The seconds ``key`` must wait before its next event is allowed (0: now), recording nothing."""
        now = self.clock()
        with self._lock:
            q = self._events.get(key)
            return self._wait(q, now) if q else 0.0

    def hit(self, key: str) -> float:
        """Record one event; 0 if allowed, else the seconds to wait."""
        now = self.clock()
        with self._lock:
            q = self._events.setdefault(key, deque())
            wait = self._wait(q, now)
            if wait:
                return wait
            q.append(now)
            if len(self._events) > 100_000:  # forget idle clients so memory stays bounded
                for k in [k for k, v in self._events.items() if not v][:50_000]:
                    del self._events[k]
            return 0.0


def principal_for(authorization: str | None, settings: Settings, accounts: AccountStore,
                  allow_editor_token: bool = True) -> Principal | None:
    """The caller for an Authorization header: None when a token was given but is not valid."""
    if not authorization:
        return ANONYMOUS
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    if allow_editor_token and settings.editor_token and secrets_equal(token, settings.editor_token):
        return Principal("editor-token", "editor")
    return accounts.authenticate(token.strip())


def key_prefix(authorization: str) -> str | None:
    """The public prefix of a ``tsr_<prefix>_<secret>`` key, so failures against one key are counted together."""
    token = authorization.partition(" ")[2].strip()
    parts = token.split("_")
    return parts[1] if len(parts) >= 3 and parts[0] == "tsr" and parts[1] else None


def address(request: Request) -> str:
    """The client address the limits are kept for (forwarded headers only from trusted proxies)."""
    trusted = getattr(request.app.state, "trusted_proxies", ())
    peer = request.client.host if request.client else None
    return client_address(peer, {k.lower(): v for k, v in request.headers.items()}, trusted)


def secrets_equal(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


def current(request: Request) -> Principal:
    p: Principal = getattr(request.state, "principal", ANONYMOUS)
    return p


def viewer_of(p: Principal) -> Viewer:
    """Cultural protocols: moderators and admins see restricted material, others only their communities'."""
    return OPERATOR if p.at_least("moderator") else Viewer.of(p.communities)


def viewer(request: Request) -> Viewer:
    """The request's viewer; a request the middleware did not see is the public (fail closed)."""
    v: Viewer = getattr(request.state, "viewer", PUBLIC)
    return v


def require(role: str) -> Callable[[Request], Principal]:
    """A dependency that lets through callers with at least ``role``."""

    def dep(request: Request) -> Principal:
        p = current(request)
        if p.role == "anonymous":
            raise Unauthorized(f"this needs an API key with the {role} role "
                           "(Authorization: Bearer <key>)", required_role=role)
        if not p.at_least(role):
            raise Forbidden(f"your role ({p.role}) may not do this; it needs {role}",
                           required_role=role, role=p.role)
        return p

    dep.__name__ = f"require_{role}"
    return dep


def install(app: object, settings: Settings, accounts: AccountStore) -> None:
    """Middleware: resolve the caller, then apply the rate limits before any work is done."""
    from fastapi import FastAPI

    assert isinstance(app, FastAPI)
    per_key = SlidingWindow(settings.rate_limit_key)
    per_addr = SlidingWindow(settings.rate_limit_anonymous)
    audio_addr = SlidingWindow(settings.rate_limit_audio_anonymous)
    export_key = SlidingWindow(settings.rate_limit_export_key)
    # invalid keys are counted per address and per key prefix, or guessing keys would be free of any limit
    failed_auth = SlidingWindow(settings.auth_failures_per_address)
    failed_prefix = SlidingWindow(settings.auth_failures_per_key)
    app.state.trusted_proxies = networks(settings.trusted_proxies)
    # sign-in failures per user name, read by the login route (a password is guessable, a key is not)
    app.state.login_failures = SlidingWindow(settings.login_failures_per_account)

    def limited(request: Request, wait: float) -> JSONResponse:
        retry = max(1, math.ceil(wait))
        return answer(RateLimited, f"too many requests; try again in {retry} s", {"retry_after": retry},
                      request.url.path, headers={"Retry-After": str(retry)})

    @app.middleware("http")
    async def _auth_and_limits(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        addr = address(request)
        authorization = request.headers.get("authorization")
        prefix = key_prefix(authorization) if authorization else None
        locked = bool(authorization) and bool(
            failed_auth.wait(addr) or (prefix is not None and failed_prefix.wait(prefix)))
        # A user key has 256 random bits: checking it while locked gives a guesser nothing, and refusing it
        # would let anyone lock a valid key out by failing from its address. The bootstrap editor token is
        # chosen by a person, so it is not even compared while locked.
        p = principal_for(authorization, settings, accounts, allow_editor_token=not locked)
        if p is None:
            waits = [failed_auth.hit(addr)] + ([failed_prefix.hit(prefix)] if prefix is not None else [])
            if wait := max(waits):
                return limited(request, wait)
            return answer(Unauthorized, "the API key is not valid or has been revoked", None, request.url.path)
        request.state.principal = p
        request.state.viewer = viewer_of(p)
        path = request.url.path
        if path.startswith("/static/") or path == "/health":
            return await call_next(request)
        # exports stream whole datasets: they count like audio (and, with audio bundled, per key too)
        is_audio = path.endswith(("/audio", "/preview", "/export"))
        if p.role == "anonymous":
            wait = per_addr.hit(addr)
            if not wait and is_audio:
                wait = audio_addr.hit(addr)
        else:
            wait = per_key.hit(p.name)
            if not wait and path.endswith("/export") and _truthy(request.query_params.get("with_audio")):
                wait = export_key.hit(p.name)
        if wait:
            return limited(request, wait)
        return await call_next(request)


def _truthy(v: str | None) -> bool:
    return (v or "").strip().lower() in ("1", "true", "yes", "on", "t", "y")
