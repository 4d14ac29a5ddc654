"""The one place where typed errors become HTTP answers: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tessera.catalog import errors as cat
from tessera.errors import TesseraError
from tessera.indexer import errors as idx

log = logging.getLogger(__name__)

# Most specific first; anything else that is a TesseraError is a 400.
STATUS_BY_ERROR: list[tuple[type[TesseraError], int]] = [
    (cat.NotFound, 404),
    (cat.Conflict, 409),
    (cat.LicenceError, 422),
    (cat.InvalidInput, 422),
    (idx.IndexNotBuilt, 409),
    (idx.DecodeError, 422),
    (idx.IndexerError, 422),
]


class ApiError(TesseraError):
    """An error raised by the API layer itself with an explicit status."""

    def __init__(self, http_status: int, code: str, message: str, /, **details: Any) -> None:
        super().__init__(message, **details)
        self.status = http_status
        self.code = code


def register_status(exc_type: type[TesseraError], status: int) -> None:
    """Let other packages' error types map to a status without editing this table by hand."""
    STATUS_BY_ERROR.insert(0, (exc_type, status))


def status_for(exc: TesseraError) -> int:
    if isinstance(exc, ApiError):
        return exc.status
    for typ, status in STATUS_BY_ERROR:
        if isinstance(exc, typ):
            return status
    return 400


class ErrorDetail(BaseModel):
    code: str
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
    import re

    methods: set[str] = set()
    for template, ops in request.app.openapi().get("paths", {}).items():
        pattern = "^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, request.url.path):
            methods |= {m.upper() for m in ops}
    return sorted(methods)


def body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def install(app: FastAPI) -> None:
    @app.exception_handler(TesseraError)
    async def _tessera(_: Request, exc: TesseraError) -> JSONResponse:
        headers = {}
        if "retry_after" in exc.details:
            headers["Retry-After"] = str(exc.details["retry_after"])
        return JSONResponse(body(exc.code, exc.message, exc.details), status_for(exc), headers=headers)

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
