"""Consent follows the data: one withdrawal reaches the catalogue, the indexes and the cache.

The catalogue hides and purges at once (every searchable query applies the
consent rule); this module then takes the files out of the persisted faiss
indexes without a full rebuild and deletes Tessera's own cached downloads.
What remains is the audit entry: who, what, when, why — never the content.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tessera.catalog.dataset_store import DatasetStore
from tessera.catalog.settings import Settings
from tessera.catalog.store import Catalog
from tessera.indexer.preview import preview_path
from tessera.indexer.similarity import remove_files

log = logging.getLogger(__name__)


@dataclass
class Withdrawal:
    file_ids: list[int]
    deleted_cache_files: int
    index_build: str | None
    dataset_versions: list[tuple[int, int]] = field(default_factory=list)  # (dataset id, new version)


def _purge(catalog: Catalog, settings: Settings, ids: list[int], reason: str) -> Withdrawal:
    build = remove_files(settings.index_dir, set(ids)) if ids else None
    versions = DatasetStore(catalog.db).drop_withdrawn(ids, reason)
    cached = catalog.cached_paths(ids, str(settings.cache_dir.resolve()))
    deleted = 0
    for path in cached.values():
        try:
            Path(path).unlink(missing_ok=True)
            deleted += 1
        except OSError as exc:  # keep going: the catalogue already hides the item
            log.warning("could not delete cached audio %s: %s", path, exc)
    if cached:
        catalog.forget_paths(list(cached))
    for fid in ids:  # previews are derived audio: they go too
        preview_path(settings.previews_dir, fid).unlink(missing_ok=True)
    return Withdrawal(ids, deleted, build, versions)


def withdraw(catalog: Catalog, settings: Settings, scope: str, target: str, actor: str | None,
             reason: str | None) -> Withdrawal:
    return _purge(catalog, settings, catalog.withdraw(scope, target, actor, reason), "consent withdrawn")


def take_down_record(catalog: Catalog, settings: Settings, record_id: int, reason: str,
                     keep_md5s: set[str] | None = None) -> Withdrawal:
    """A crawler takedown (opt-out, licence no longer open, file gone at the source) of a record's files.

    The same path as a withdrawal: vectors, cached audio and previews go, datasets get a new version;
    files in ``keep_md5s`` stay. Each file gets its own consent event (actor "crawler"), so a licence that
    is open again can bring back exactly what it took.
    """
    ids = catalog.active_file_ids(record_id, keep_md5s)
    for fid in ids:
        catalog.withdraw("file", str(fid), actor="crawler", reason=reason)
    return _purge(catalog, settings, ids, reason) if ids else Withdrawal([], 0, None)


def set_period(catalog: Catalog, scope: str, target: str, expires_at: datetime | None, actor: str | None,
               reason: str | None) -> list[int]:
    return catalog.set_consent_expiry(scope, target, expires_at, actor, reason)


def sweep_expired(catalog: Catalog, settings: Settings, at: datetime | None = None) -> Withdrawal:
    """Make lapsed consents take full effect (queries already hide them from the moment they lapse)."""
    return _purge(catalog, settings, catalog.expire_lapsed(at), "consent period ended")
