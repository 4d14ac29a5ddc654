"""Errors raised by search; the API maps them to HTTP in tessera/api/routers/search.py's registrations."""

from tessera.errors import TesseraError


class SearchError(TesseraError):
    code = "search_error"


class UploadTooLarge(SearchError):
    code = "too_large"


class UnsupportedFormat(SearchError):
    code = "unsupported_format"


class BadQuery(SearchError):
    code = "invalid_query"


class Undecodable(SearchError):
    """The upload crashed or exhausted its sandboxed decoder."""

    code = "undecodable"
