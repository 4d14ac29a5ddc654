"""Errors raised by the indexer."""

from tessera.core.errors import TesseraError


class IndexerError(TesseraError):
    code = "indexer_error"
    status = 422


class DecodeError(IndexerError):
    """Neither decoder could read the file, or what it read is unusable."""

    code = "undecodable"


class FeatureError(IndexerError):
    code = "feature_error"


class IndexNotBuilt(IndexerError):
    code = "index_not_built"
    status = 409
