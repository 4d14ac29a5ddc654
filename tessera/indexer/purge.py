"""The indexer's purge steps for withdrawn files, handed to the consent service by the composition root."""

from __future__ import annotations

from pathlib import Path

from tessera.core.locks import exclusive
from tessera.indexer.preview import preview_path
from tessera.indexer.similarity import remove_files


class IndexPurger:
    """Withdrawn files leave every space's persisted index (under the lock index builds take)."""

    name = "index"

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir

    def purge(self, file_ids: list[int], reason: str) -> str | None:
        with exclusive(self.index_dir / ".lock"):
            return remove_files(self.index_dir, set(file_ids))


class PreviewPurger:
    """Previews are derived audio: they go with the recording."""

    name = "previews"

    def __init__(self, previews_dir: Path) -> None:
        self.previews_dir = previews_dir

    def purge(self, file_ids: list[int], reason: str) -> int:
        gone = 0
        for fid in file_ids:
            p = preview_path(self.previews_dir, fid)
            if p.exists():
                p.unlink()
                gone += 1
        return gone
