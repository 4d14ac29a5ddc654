"""Errors raised by the catalogue."""

from tessera.errors import TesseraError


class CatalogError(TesseraError):
    code = "catalog_error"


class NotFound(CatalogError):
    code = "not_found"


class LicenceError(CatalogError):
    """A licence string that is unknown or not acceptable."""

    code = "bad_licence"


class InvalidInput(CatalogError):
    code = "invalid_input"


class Conflict(CatalogError):
    code = "conflict"
