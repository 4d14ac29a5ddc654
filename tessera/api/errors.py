"""The one place where typed errors become HTTP answers: RFC 9457 problem details.

Every error answer is ``application/problem+json``: ``{type, title, status, detail, instance, code, ...}``.
``type`` is the problem type of the error class (``/problems/<code>``, served by ``GET /problems/{code}``),
``code`` keeps the short machine code clients used before, and the error's details are extension members
(``errors`` for a 422 of the request schema, ``retry_after`` for a 429, ``max_limit`` …). Each error
class carries its status and problem type (``tessera.core.errors``); nothing here maps them.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DataError, StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tessera.api.redact import scrub
from tessera.core.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    OutOfRange,
    RateLimited,
    TesseraError,
    TooLargeRequest,
    Unauthorized,
)

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
# the members RFC 9457 defines (and our ``code``): an error's details never overwrite them
RESERVED = frozenset({"type", "title", "status", "detail", "instance", "code"})


class AudioUnavailable(NotFound):
    """The item exists but its audio is not held on this server (``file_url`` says where it is)."""

    code = "audio_unavailable"


class NotIndexed(Conflict):
    """The item has no features yet."""

    code = "not_indexed"


class BadRange(TesseraError):
    """A Range header this server does not serve (only single byte ranges within the file are)."""

    code = "bad_range"
    status = 416

    def headers(self) -> dict[str, str]:
        size = self.details.get("size")
        return {"Content-Range": f"bytes */{size}"} if size is not None else {}


class Problem(BaseModel):
    """An RFC 9457 problem detail; further members (the error's details) may follow."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="the problem type: a URI reference, GET it for a description",
                      examples=["/problems/not_found"])
    title: str = Field(description="a short summary of the problem type")
    status: int = Field(ge=400, le=599, description="the HTTP status code")
    detail: str = Field(description="what went wrong in this occurrence")
    instance: str | None = Field(default=None, description="the path of the request that failed")
    code: str = Field(description="the short machine code of the problem type (its last path segment)")


class FieldError(BaseModel):
    loc: list[str]
    msg: str
    type: str


class ValidationProblem(Problem):
    """A 422: invalid parameters or body. ``errors`` lists each offending field when the request does not
    match the operation's schema (``invalid_request``); other 422 problems name the value in their own members."""

    errors: list[FieldError] | None = Field(default=None, description="one entry per offending field")


class ProblemType(BaseModel):
    """What a problem type means (the answer of GET /problems/{code})."""

    type: str
    code: str
    title: str
    status: int
    description: str


_DESCRIPTIONS = {
    400: "bad request", 401: "no valid API key, or one is needed", 403: "the caller's role may not do this",
    404: "not found", 405: "method not allowed", 409: "conflict with the current state", 413: "too large",
    415: "unsupported media type", 416: "range not satisfiable", 422: "invalid parameters or body",
    429: "rate limited (see Retry-After)", 500: "an unexpected error (logged)",
    503: "busy: try again after Retry-After seconds",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, each a problem detail (``ValidationProblem`` for 422)."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        schema = "ValidationProblem" if status == 422 else "Problem"
        content: dict[str, Any] = {PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
        entry: dict[str, Any] = {"description": _DESCRIPTIONS.get(status, "error"), "content": content}
        if status in (429, 503):
            entry["headers"] = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
        if status == 405:
            entry["headers"] = {"Allow": {"description": "the methods of this path", "schema": {"type": "string"}}}
        out[status] = entry
    return out


# Every operation can answer these: a request that cannot be read (400), the auth middleware refusing an
# invalid key (401) and applying the rate limits (429) before any route runs, and any parameter or body
# failing its schema (422).
COMMON = problems(400, 401, 422, 429)


def error_classes() -> dict[str, type[TesseraError]]:
    """Every error class the server knows, by code (the first, most general class for a shared code)."""
    # the stage errors that can reach an answer; imported here so that the documentation lists them all
    from tessera.indexer import errors as _indexer  # noqa: F401
    from tessera.search import errors as _search  # noqa: F401
    from tessera.taxonomy import errors as _taxonomy  # noqa: F401

    out: dict[str, type[TesseraError]] = {}
    todo: list[type[TesseraError]] = [TesseraError]
    while todo:
        cls = todo.pop(0)
        out.setdefault(cls.code, cls)
        todo.extend(cls.__subclasses__())
    return out


def problem_type(code: str) -> ProblemType | None:
    cls = error_classes().get(code)
    if cls is None:
        return None
    doc = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    return ProblemType(type=cls.problem_type(), code=cls.code, title=cls.title, status=cls.status,
                       description=doc or cls.title)


def problem(cls: type[TesseraError], detail: str, details: dict[str, Any] | None = None,
            instance: str | None = None) -> dict[str, Any]:
    """The problem detail of an error of class ``cls`` (details become extension members)."""
    body: dict[str, Any] = {"type": cls.problem_type(), "title": cls.title, "status": cls.status,
                            "detail": scrub(detail), "code": cls.code}
    if instance is not None:
        body["instance"] = instance
    for k, v in scrub(details or {}).items():
        body[f"{k}_value" if k in RESERVED else k] = v
    return body


def answer(cls: type[TesseraError], detail: str, details: dict[str, Any] | None = None,
           instance: str | None = None, status: int | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    """A problem+json answer; ``status`` only where the class is a stand-in (an HTTP error we did not raise)."""
    body = problem(cls, detail, details, instance)
    if status is not None:
        body["status"] = status
    return JSONResponse(body, body["status"], headers=headers, media_type=PROBLEM_JSON)


def _allowed_methods(request: Request) -> list[str]:
    """All methods the API documents for this path (Starlette reports only the first route's)."""

    methods: set[str] = set()
    for template, ops in request.app.openapi().get("paths", {}).items():
        pattern = "^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, request.url.path):
            methods |= {m.upper() for m in ops}
    return sorted(methods)


_BY_STATUS: dict[int, type[TesseraError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 405: MethodNotAllowed,
    413: TooLargeRequest, 429: RateLimited,
}


def install(app: FastAPI) -> None:
    @app.exception_handler(TesseraError)
    async def _tessera(request: Request, exc: TesseraError) -> JSONResponse:
        return answer(type(exc), exc.message, exc.details, request.url.path, headers=exc.headers() or None)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        return answer(InvalidRequest, "the request's parameters are not valid", {"errors": errs},
                      request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        cls = _BY_STATUS.get(exc.status_code, BadRequest)
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return answer(cls, str(exc.detail), None, request.url.path, status=exc.status_code,
                      headers=headers or None)

    # A number the database cannot hold (SQLite's 64-bit INTEGER, PostgreSQL's int4/int8) is the caller's
    # mistake, not ours: parameter bounds catch it first, this is the net under them.
    @app.exception_handler(OverflowError)
    @app.exception_handler(StatementError)
    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if out_of_range(exc):
            return answer(OutOfRange, "a number in the request is out of range", None, request.url.path)
        log.error("unexpected error", exc_info=exc)
        return answer(InternalError, "an unexpected error occurred; it has been logged", None, request.url.path)


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
