"""A polite HTTP client: identifying User-Agent, sliding-window rate limits, Retry-After, backoff.

Limits are parameters (never read from settings here) so that tests can use small windows and a
fake clock; the defaults for Zenodo and the Internet Archive are built by the helpers below.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

from tessera.crawlers.errors import FetchError, NotFoundAtSource, TooLarge

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` in any ``window`` seconds."""

    requests: int
    window: float


class SlidingWindowLimiter:
    """Several sliding windows at once (e.g. per minute and per hour). Pure given the clock.

    ``wait_time(now)`` says how long to wait before the next request is allowed;
    ``record(now)`` notes a request. ``acquire()`` combines both with the injected clock/sleep.
    """

    def __init__(
        self, limits: Iterable[RateLimit], clock: Clock = time.monotonic, sleep: Sleep = time.sleep
    ) -> None:
        self.limits = tuple(limits)
        for lim in self.limits:
            if lim.requests < 1 or lim.window <= 0:
                raise ValueError(f"invalid rate limit {lim}")
        self.clock = clock
        self._sleep = sleep
        longest = max((lim.requests for lim in self.limits), default=0)
        self._stamps: deque[float] = deque(maxlen=longest or None)
        self._lock = threading.Lock()
        self._blocked_until = 0.0

    def wait_time(self, now: float) -> float:
        wait = max(0.0, self._blocked_until - now)
        for lim in self.limits:
            if len(self._stamps) >= lim.requests:
                # the request lim.requests back must have left the window
                oldest = self._stamps[-lim.requests]
                wait = max(wait, oldest + lim.window - now)
        return wait

    def record(self, now: float) -> None:
        self._stamps.append(now)

    def settle(self, now: float | None = None) -> None:
        """The request acquired last has finished: count it from now rather than from when it was sent.

        The server sees a request at some point between our send and its answer, and the transit time
        varies, so counting from the send lets two windows' worth of requests crowd into one window of
        arrivals (55 in a busiest window against 54 allowed). Counting from the answer is a safety
        margin that holds whatever the latency: request k+N is sent only after request k was answered,
        hence after the server counted it. PoliteClient sends one request at a time, so the newest
        stamp is always the request that just finished.
        """
        with self._lock:
            if self._stamps:
                self._stamps[-1] = max(self._stamps[-1], self.clock() if now is None else now)

    def block_until(self, when: float) -> None:
        """The server told us to pause (429 or X-RateLimit-Remaining: 0)."""
        self._blocked_until = max(self._blocked_until, when)

    def acquire(self) -> float:
        """Wait until a request is allowed and count it. Returns the time waited."""
        waited = 0.0
        with self._lock:
            while True:
                now = self.clock()
                wait = self.wait_time(now)
                if wait <= 0:
                    self.record(now)
                    return waited
                self._sleep(wait)
                waited += wait


def scaled(limits: Iterable[RateLimit], fraction: float = 0.9, time_scale: float = 1.0) -> list[RateLimit]:
    """Keep below a fraction of documented limits; ``time_scale`` > 1 compresses windows (tests, demos)."""
    return [RateLimit(max(1, int(lim.requests * fraction)), lim.window / time_scale) for lim in limits]


# Documented Zenodo limits (2025): guests 60/min and 2,000/hour, with a token 100/min and 5,000/hour;
# search 30/min on top of those.
ZENODO_GUEST = (RateLimit(60, 60.0), RateLimit(2000, 3600.0))
ZENODO_TOKEN = (RateLimit(100, 60.0), RateLimit(5000, 3600.0))
ZENODO_SEARCH = (RateLimit(30, 60.0),)
# The Internet Archive asks for about one request a second.
IA_LIMIT = (RateLimit(1, 1.0),)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # tries per request, for 5xx, timeouts, dropped connections, bad bodies
    backoff: float = 1.0  # first pause; doubles each time, with jitter
    backoff_max: float = 60.0
    max_retry_after: float = 600.0  # longest pause a 429/Retry-After may impose before we give up
    rate_limited_attempts: int = 6  # 429s tolerated per request
    timeout: float = 60.0


@dataclass
class Download:
    path: Path
    size: int
    md5: str


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    waited: float = 0.0


_RETRY_STATUSES = {500, 502, 503, 504, 408}


class PoliteClient:
    """One httpx client per source, with the limiter(s) that apply to every request.

    ``limiters`` of ``get_json`` add a stricter limiter for some requests (Zenodo search).
    """

    def __init__(
        self,
        user_agent: str,
        limiter: SlidingWindowLimiter,
        retry: RetryPolicy | None = None,
        headers: dict[str, str] | None = None,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.limiter = limiter
        self.retry = retry or RetryPolicy()
        self.stats = ClientStats()
        self._clock = clock  # wall clock: X-RateLimit-Reset is epoch seconds
        self._sleep = sleep
        self._http = httpx.Client(
            headers={"User-Agent": user_agent, **(headers or {})},
            timeout=httpx.Timeout(self.retry.timeout),
            follow_redirects=True,  # Zenodo answers 308 for /api/records without the slash
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the retry loop ------------------------------------------------------------------
    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self.stats.waited += seconds
            self._sleep(seconds)

    def _backoff(self, attempt: int) -> float:
        base = min(self.retry.backoff_max, self.retry.backoff * (2**attempt))
        return base * (0.5 + random.random() / 2)  # jitter so parallel crawlers do not align

    def _server_wait(self, resp: httpx.Response) -> float | None:
        """Seconds the server asked us to wait (Retry-After, else X-RateLimit-Reset), if any."""
        ra = resp.headers.get("Retry-After")
        if ra:
            try:
                return max(0.0, float(ra))
            except ValueError:
                try:
                    return max(0.0, parsedate_to_datetime(ra).timestamp() - self._clock())
                except (TypeError, ValueError):
                    pass
        reset = resp.headers.get("X-RateLimit-Reset")
        if reset:
            try:
                return max(0.0, float(reset) - self._clock())
            except ValueError:
                return None
        return None

    def _note_quota(self, resp: httpx.Response) -> None:
        """Out of quota: hold the limiter until the window resets (the 200's Retry-After means nothing)."""
        remaining = resp.headers.get("X-RateLimit-Remaining")
        if remaining is None or not remaining.strip().isdigit() or int(remaining) > 0:
            return
        wait = None
        reset = resp.headers.get("X-RateLimit-Reset")
        if reset:
            try:
                wait = float(reset) - self._clock()
            except ValueError:
                wait = None
        wait = min(self.retry.max_retry_after, max(0.0, wait if wait is not None else 1.0))
        self.limiter.block_until(self.limiter.clock() + wait)

    def _request(
        self,
        url: str,
        params: dict[str, Any] | None,
        limiters: list[SlidingWindowLimiter],
        handle: Callable[[httpx.Response], Any],
    ) -> Any:
        """Send a GET, retrying what is worth retrying; ``handle`` consumes a 200 response."""
        attempt = 0
        limited = 0
        last: str = ""
        while True:
            for lim in (self.limiter, *limiters):
                self.stats.waited += lim.acquire()
            self.stats.requests += 1
            try:
                return self._send(url, params, handle, limited)
            except _RateLimited as rl:
                limited = rl.limited
                continue
            except _Retry as r:
                wait = r.wait
                last = r.why
            except (httpx.TimeoutException, httpx.TransportError, _BadBody) as exc:
                # timeouts, refused/dropped connections, truncated bodies, malformed JSON
                last = f"{type(exc).__name__}: {exc}"
                wait = None
            finally:
                for lim in (self.limiter, *limiters):
                    lim.settle()
            attempt += 1
            self.stats.retries += 1
            if attempt >= self.retry.attempts:
                raise FetchError(f"giving up on {url} after {attempt} tries ({last})", url=url)
            self._pause(
                min(self.retry.max_retry_after, wait) if wait is not None else self._backoff(attempt - 1)
            )

    def _send(
        self,
        url: str,
        params: dict[str, Any] | None,
        handle: Callable[[httpx.Response], Any],
        limited: int,
    ) -> Any:
        """One GET: the handled 200, or an exception saying what to do next."""
        with self._http.stream("GET", url, params=params) as resp:
            self._note_quota(resp)
            if resp.status_code == 429:
                limited += 1
                self.stats.rate_limited += 1
                wait = self._server_wait(resp)
                wait = self._backoff(limited) if wait is None else wait
                if limited > self.retry.rate_limited_attempts or wait > self.retry.max_retry_after:
                    raise FetchError(f"rate limited {limited} times by {url}", url=url, status=429)
                log.info("429 from %s: waiting %.1fs", url, wait)
                self.limiter.block_until(self.limiter.clock() + wait)
                raise _RateLimited(limited)
            if resp.status_code == 404 or resp.status_code == 410:
                raise NotFoundAtSource(f"{url}: {resp.status_code}", url=url, status=resp.status_code)
            if resp.status_code in _RETRY_STATUSES:
                wait = self._server_wait(resp) if resp.status_code == 503 else None
                raise _Retry(wait, f"HTTP {resp.status_code}")
            if resp.status_code >= 400:
                raise FetchError(f"{url}: HTTP {resp.status_code}", url=url, status=resp.status_code)
            return handle(resp)

    # -- public --------------------------------------------------------------------------
    def get_json(
        self,
        url: str,
        params: dict[str, Any] | None = None,
        limiters: list[SlidingWindowLimiter] | None = None,
    ) -> Any:
        def handle(resp: httpx.Response) -> Any:
            body = resp.read()
            try:
                return json.loads(body)
            except ValueError as exc:
                raise _BadBody(f"malformed JSON from {url}: {exc}") from exc

        return self._request(url, params, limiters or [], handle)

    def download(
        self,
        url: str,
        dest: Path,
        max_bytes: int,
        expected_size: int | None = None,
    ) -> Download:
        """Stream to a temp name beside ``dest``, then rename atomically: a killed run leaves no half file."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")

        def handle(resp: httpx.Response) -> Download:
            declared = resp.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise TooLarge(f"{url} is {declared} bytes (cap {max_bytes})", url=url)
            md5 = hashlib.md5()
            size = 0
            try:
                with tmp.open("wb") as out:
                    for chunk in resp.iter_bytes(1 << 16):
                        size += len(chunk)
                        if size > max_bytes:
                            raise TooLarge(f"{url} exceeds {max_bytes} bytes", url=url)
                        md5.update(chunk)
                        out.write(chunk)
                if expected_size is not None and size != expected_size:
                    raise _BadBody(f"{url}: got {size} bytes, expected {expected_size}")
                os.replace(tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)
            return Download(dest, size, md5.hexdigest())

        result: Download = self._request(url, None, [], handle)
        return result


class _Retry(Exception):
    def __init__(self, wait: float | None, why: str) -> None:
        self.wait = wait
        self.why = why


class _RateLimited(Exception):
    """A 429 we will wait out (the limiter is already blocked); carries the count so far."""

    def __init__(self, limited: int) -> None:
        self.limited = limited


class _BadBody(Exception):
    """A body we cannot use (truncated, malformed): worth another try."""
