"""The datasets' purge step: every dataset that held a withdrawn file gets a new version without it."""

from __future__ import annotations

from tessera.catalog.visibility import OPERATOR
from tessera.core.db import Database
from tessera.datasets.store import DatasetStore


class DatasetPurger:
    name = "datasets"

    def __init__(self, db: Database) -> None:
        self.store = DatasetStore(db, OPERATOR)  # the purge must reach datasets no viewer may see

    def purge(self, file_ids: list[int], reason: str) -> list[tuple[int, int]]:
        return self.store.drop_withdrawn(file_ids, reason)
