"""Base error type. Each package defines its own subclasses; the API maps them to HTTP in one place."""

from typing import Any


class TesseraError(Exception):
    """An expected failure with a stable machine-readable code."""

    code = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
