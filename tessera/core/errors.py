"""The base error and the errors every stage shares.

Each class says once what it means over HTTP: its ``status`` and its problem ``code`` (the last
part of its RFC 9457 problem type). The API turns any of them into an answer without a table.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "https://tessera-audio.github.io/problems/"


class TesseraError(Exception):
    """An expected failure with a stable machine-readable code and the HTTP status it means."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    @classmethod
    def problem_type(cls) -> str:
        return PROBLEM_BASE + cls.code


class NotFound(TesseraError):
    code = "not_found"
    status = 404


class Conflict(TesseraError):
    code = "conflict"
    status = 409


class InvalidInput(TesseraError):
    code = "invalid_input"
    status = 422


class LicenceError(InvalidInput):
    """A licence string that is unknown or not acceptable."""

    code = "bad_licence"


class Unauthorized(TesseraError):
    code = "unauthorized"
    status = 401


class Forbidden(TesseraError):
    code = "forbidden"
    status = 403


class PageTooLarge(Forbidden):
    """A page above the anonymous cap: bulk listing is what keys are for."""

    code = "page_too_large"


class InvalidRequest(InvalidInput):
    code = "invalid_request"


class Misconfigured(TesseraError):
    """A setting names something this installation cannot use (a missing driver or extra)."""

    code = "misconfigured"
    status = 503


class RateLimited(TesseraError):
    code = "rate_limited"
    status = 429
