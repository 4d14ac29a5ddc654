"""Errors raised by the crawlers. Each carries a stable ``code`` the summary and the rejected list use."""

from __future__ import annotations

from tessera.core.errors import TesseraError


class CrawlError(TesseraError):
    code = "crawl_error"


class FetchError(CrawlError):
    """A request that failed for good (after retries, or a non-retryable status)."""

    code = "fetch_failed"

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        super().__init__(message, url=url, source_status=status)
        self.url = url
        self.source_status = status  # the HTTP status the source answered (the class status is ours)


class NotFoundAtSource(FetchError):
    code = "not_found"


class ChecksumMismatch(CrawlError):
    code = "checksum_mismatch"


class TooLarge(CrawlError):
    code = "too_large"


class UnsafeArchive(CrawlError):
    """An archive we refuse to extract: path traversal, links, devices, bombs."""

    code = "unsafe_archive"


class BadArchive(CrawlError):
    code = "bad_archive"


class NoAudio(CrawlError):
    code = "no_audio"


class MalformedRecord(CrawlError):
    """A record whose JSON does not have the shape its source's parser needs: reported, then skipped."""

    code = "malformed_record"
