"""Errors of the taxonomy stage; the API maps them to HTTP statuses in one place."""

from tessera.errors import TesseraError


class TaxonomyError(TesseraError):
    code = "taxonomy_error"


class NotAllowed(TaxonomyError):
    """The caller may not do this under the scheme's rule (e.g. accepting without being a steward)."""

    code = "forbidden"


class NothingToCluster(TaxonomyError):
    """No indexed, consented items for this extractor version."""

    code = "nothing_to_cluster"
