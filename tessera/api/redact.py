"""Server paths out of answers: where the catalogue keeps its files is not the caller's business."""

from __future__ import annotations

import re
from typing import Any

# An absolute file-system path (two or more parts), not part of a URL and not one of the API's own routes.
_FS_PATH = re.compile(r"(?<![\w:/.~-])(?:/(?!api/|static/|docs)[\w.@+~-]+){2,}/?")


def scrub(value: Any) -> Any:
    """Error text from decoders and the OS names server paths (the data dir, temporary files): not the
    caller's business, and a map for an attacker. Keep the file's name, drop where it lives."""
    if isinstance(value, str):
        return _FS_PATH.sub(lambda m: "…/" + m.group(0).rstrip("/").rsplit("/", 1)[-1], value)
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def public_identifier(identifier: str) -> str:
    """A folder source is identified by its absolute path on the server: show its last part only."""
    return identifier.rstrip("/").rsplit("/", 1)[-1] if identifier.startswith("/") else identifier
