"""The base error and the errors every stage shares.

Each class says once what it means over HTTP: its ``status``, its ``code`` and its RFC 9457 problem
``type`` (derived from the code) with a short ``title``. The API turns any of them into an
``application/problem+json`` answer without a table.
"""

from __future__ import annotations

from typing import Any, ClassVar

# Problem types are relative URI references ("/problems/not_found"), resolved against the API's own
# address (RFC 9457 section 3.1.1): they need no domain we may not own, stay valid behind any
# TESSERA_PUBLIC_URL, and the server answers each of them with a short description (GET /problems/{code}).
PROBLEM_BASE = "/problems/"


class TesseraError(Exception):
    """An expected failure with a stable machine-readable code and the HTTP status it means."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "title" not in cls.__dict__:  # a title of its own, or one read from its code
            cls.title = cls.code.replace("_", " ").capitalize()

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    @classmethod
    def problem_type(cls) -> str:
        return PROBLEM_BASE + cls.code

    def headers(self) -> dict[str, str]:
        """HTTP headers the answer carries (``Retry-After`` when the error says when to come back)."""
        if "retry_after" in self.details:
            return {"Retry-After": str(self.details["retry_after"])}
        return {}


class NotFound(TesseraError):
    code = "not_found"
    status = 404


class Conflict(TesseraError):
    """The request contradicts the current state of what it acts on."""

    code = "conflict"
    status = 409


class InvalidInput(TesseraError):
    """A value the request gave is not acceptable."""

    code = "invalid_input"
    status = 422


class LicenceError(InvalidInput):
    """A licence string that is unknown or not acceptable."""

    code = "bad_licence"


class Unauthorized(TesseraError):
    """No valid API key (or session), or one is needed for this."""

    code = "unauthorized"
    status = 401


class Forbidden(TesseraError):
    """The caller's role may not do this."""

    code = "forbidden"
    status = 403


class PageTooLarge(Forbidden):
    """A page above the anonymous cap: bulk listing is what keys are for."""

    code = "page_too_large"


class InvalidRequest(InvalidInput):
    """The request's parameters or body do not match the operation's schema (``errors`` lists each)."""

    code = "invalid_request"


class OutOfRange(InvalidInput):
    """A number the database cannot hold."""

    code = "out_of_range"


class Misconfigured(TesseraError):
    """A setting names something this installation cannot use (a missing driver or extra)."""

    code = "misconfigured"
    status = 503


class RateLimited(TesseraError):
    """Too many requests; ``Retry-After`` says when to come back."""

    code = "rate_limited"
    status = 429


class MethodNotAllowed(TesseraError):
    """The path exists, not with this method; ``Allow`` lists those it has."""

    code = "method_not_allowed"
    status = 405


class TooLargeRequest(TesseraError):
    code = "too_large"
    status = 413


class InternalError(TesseraError):
    """A failure of ours: it has been logged."""

    code = "internal_error"
    status = 500


class BadRequest(TesseraError):
    """A request the server cannot read (for example a malformed multipart body)."""

    code = "bad_request"
    status = 400
