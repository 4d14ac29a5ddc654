"""Errors raised by search; each carries its HTTP status."""

from tessera.core.errors import TesseraError


class SearchError(TesseraError):
    code = "search_error"


class UploadTooLarge(SearchError):
    code = "too_large"
    status = 413


class UnsupportedFormat(SearchError):
    code = "unsupported_format"
    status = 415


class BadQuery(SearchError):
    code = "invalid_query"
    status = 422


class Undecodable(SearchError):
    """The upload crashed or exhausted its sandboxed decoder."""

    code = "undecodable"
    status = 422


class TooManyUploads(SearchError):
    """One client already has as many uploads in flight as it may."""

    code = "too_many_uploads"
    status = 429


class SearchBusy(SearchError):
    """Every decoder is busy and the queue is full or the wait ran out: come back later."""

    code = "busy"
    status = 503
