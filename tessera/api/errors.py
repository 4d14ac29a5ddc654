"""The one place where typed errors become HTTP answers: {"error": {"code", "type", "message", "details"}}.

Each error class carries its status and problem type (``tessera.core.errors``); nothing here maps them.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tessera.api.redact import scrub
from tessera.core.errors import PROBLEM_BASE, Conflict, NotFound, TesseraError

log = logging.getLogger(__name__)

class AudioUnavailable(NotFound):
    code = "audio_unavailable"


class NotIndexed(Conflict):
    code = "not_indexed"


class BadRange(TesseraError):
    code = "bad_range"
    status = 416


class ErrorDetail(BaseModel):
    code: str
    type: str | None = None
    message: str
    details: dict[str, Any] = {}


class ErrorBody(BaseModel):
    error: ErrorDetail


# Documented on every operation: clients (and schemathesis) can rely on the error shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (400, "bad request"), (401, "no valid API key"), (403, "the key's role may not do this"),
        (404, "not found"), (409, "conflict with the current state"), (413, "too large"),
        (415, "unsupported media type"), (416, "range not satisfiable"), (422, "invalid parameters or body"),
        (429, "rate limited"),
    )
}


def _allowed_methods(request: Request) -> list[str]:
    """All methods the API documents for this path (Starlette reports only the first route's)."""

    methods: set[str] = set()
    for template, ops in request.app.openapi().get("paths", {}).items():
        pattern = "^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, request.url.path):
            methods |= {m.upper() for m in ops}
    return sorted(methods)


def body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "type": PROBLEM_BASE + code, "message": scrub(message),
                      "details": scrub(details or {})}}


def install(app: FastAPI) -> None:
    @app.exception_handler(TesseraError)
    async def _tessera(_: Request, exc: TesseraError) -> JSONResponse:
        headers = {}
        if "retry_after" in exc.details:
            headers["Retry-After"] = str(exc.details["retry_after"])
        return JSONResponse(body(exc.code, exc.message, exc.details), exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errs = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        return JSONResponse(body("invalid_request", "the request's parameters are not valid", {"errors": errs}),
                            422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden",
                413: "too_large", 429: "rate_limited"}.get(exc.status_code, "http_error")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return JSONResponse(body(code, str(exc.detail)), exc.status_code, headers=headers or None)

    # A number the database cannot hold (SQLite's 64-bit INTEGER, PostgreSQL's int4/int8) is the caller's
    # mistake, not ours: parameter bounds catch it first, this is the net under them.
    @app.exception_handler(OverflowError)
    @app.exception_handler(StatementError)
    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        if out_of_range(exc):
            return JSONResponse(body("out_of_range", "a number in the request is out of range"), 422)
        log.error("unexpected error", exc_info=exc)
        return JSONResponse(body("internal_error", "an unexpected error occurred; it has been logged"), 500)


def out_of_range(exc: BaseException) -> bool:
    """Whether an error (or what caused it) is a value the database driver or column cannot hold."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OverflowError | DataError):
            return True
        orig = getattr(e, "orig", None)
        if isinstance(orig, OverflowError) or type(orig).__name__ == "NumericValueOutOfRange":
            return True
        e = e.__cause__ or e.__context__
    return False
