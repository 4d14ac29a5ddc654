"""Errors of the taxonomy stage; each carries its HTTP status."""

from tessera.core.errors import TesseraError


class TaxonomyError(TesseraError):
    code = "taxonomy_error"


class NotAllowed(TaxonomyError):
    """The caller may not do this under the scheme's rule (e.g. accepting without being a steward)."""

    code = "forbidden"
    status = 403


class NothingToCluster(TaxonomyError):
    """No indexed, consented items for this extractor version."""

    code = "nothing_to_cluster"
    status = 409
