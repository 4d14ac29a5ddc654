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


class SchedulerUnreachable(IndexerError):
    """The Dask scheduler cannot be reached, or has no workers: nothing was changed in the catalogue."""

    code = "scheduler_unreachable"
    status = 503


class NoWorkerURL(IndexerError):
    """A file a Dask worker on another machine could not fetch: no URL is configured that reaches it."""

    code = "no_worker_url"
    status = 422
