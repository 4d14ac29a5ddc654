"""Consent follows the data: the only code that changes consent state, and the one place that purges.

Withdrawal, crawler takedown (opt-out, licence no longer open, file gone at the source), expiry and
restore all pass through ``ConsentService``. A change commits together with a purge job that it owes
(``PurgeJob``); the service then applies every pending job under one lock, step by step, each step
idempotent: vectors out of every index, Tessera's cached downloads deleted, previews deleted, a new
version of every dataset that held the item. A step that fails leaves the job pending; the next sweep
(the server's scheduled one, or any CLI command's) retries it. What remains is the audit trail: who,
what, when, why — never the content.

The stages that hold derived data (indexer, datasets) sit above this one; the composition root hands
their purge steps in as ``Purger`` objects, so this package imports none of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from tessera.consent.models import ConsentEvent, OptOut
from tessera.consent.store import SCRUBBED_AFTER, ConsentStore
from tessera.core.db import Database
from tessera.core.locks import exclusive

log = logging.getLogger(__name__)


class Purger(Protocol):
    """One kind of derived data to purge for withdrawn files; ``purge`` must be idempotent."""

    name: str

    def purge(self, file_ids: list[int], reason: str) -> Any:
        """Remove what this step holds of ``file_ids``; returns a JSON-able summary."""


@dataclass
class Withdrawal:
    file_ids: list[int]
    deleted_cache_files: int = 0
    index_build: str | None = None
    dataset_versions: list[tuple[int, int]] = field(default_factory=list)  # (dataset id, new version)
    pending: bool = False  # a purge step failed: the job stays journalled and is retried by the next sweep


class CachePurger:
    """Tessera's own downloads of the files (never a user's folder), and the catalogue's pointer to them."""

    name = "cache"

    def __init__(self, store: ConsentStore, cache_dir: Path) -> None:
        self.store = store
        self.cache_dir = cache_dir

    def purge(self, file_ids: list[int], reason: str) -> int:
        cached = self.store.cached_paths(file_ids, str(self.cache_dir.resolve()))
        deleted = 0
        for path in cached.values():
            p = Path(path)
            if p.exists():
                p.unlink()  # an OSError fails the step: the job stays pending and is retried
                deleted += 1
        if cached:
            self.store.forget_paths(list(cached))
        return deleted


class MetadataPurger:
    """Last step: a withdrawn or lapsed file keeps only what the audit trail and the md5 block need."""

    name = "metadata"

    def __init__(self, store: ConsentStore) -> None:
        self.store = store

    def purge(self, file_ids: list[int], reason: str) -> int:
        return self.store.scrub(file_ids) if reason in SCRUBBED_AFTER else 0


class ConsentService:
    """Withdraw, take down, expire, restore and opt out: each change followed by its whole purge."""

    def __init__(self, db: Database, data_dir: Path, cache_dir: Path, purgers: Sequence[Purger] = (),
                 on_purged: Callable[[], None] | None = None) -> None:
        self.store = ConsentStore(db)
        # the cache step needs the paths the metadata step forgets: it runs first, the metadata step last
        self.purgers: list[Purger] = [CachePurger(self.store, cache_dir), *purgers, MetadataPurger(self.store)]
        self.lock_path = data_dir / ".purge.lock"
        self.on_purged = on_purged  # e.g. the server reloading its indexes

    # -- changes of state ----------------------------------------------------------------
    def withdraw(self, scope: str, target: str, actor: str | None, reason: str | None) -> Withdrawal:
        """Withdraw consent for one file, a source record or a creator: hidden at once, purged now."""
        ids, job = self.store.withdraw(scope, target, actor, reason)
        return self._settle(ids, job)

    def take_down_record(self, record_id: int, reason: str, keep_md5s: set[str] | None = None) -> Withdrawal:
        """A crawler takedown of a record's files (files in ``keep_md5s`` stay), purged like a withdrawal."""
        ids, job = self.store.take_down(record_id, reason, keep_md5s)
        return self._settle(ids, job)

    def set_period(self, scope: str, target: str, expires_at: datetime | None, actor: str | None,
                   reason: str | None) -> list[int]:
        """Consent for a period: it lapses by itself at ``expires_at`` (the sweep then purges)."""
        return self.store.set_consent_expiry(scope, target, expires_at, actor, reason)

    def sweep(self, at: datetime | None = None) -> Withdrawal:
        """Make lapsed consents take full effect and retry purges still owed.

        Reads already hide lapsed items from the moment they lapse; the sweep purges what they left.
        """
        ids, job = self.store.expire_lapsed(at)
        w = self._settle(ids, job)
        return w

    def restore_files(self, record_id: int, md5s: set[str], reason_prefixes: tuple[str, ...],
                      reason: str) -> list[int]:
        """Bring back a record's files that the crawler alone withdrew for one of ``reason_prefixes``."""
        return self.store.restore_withdrawn_files(record_id, md5s, reason_prefixes, reason)

    def add_opt_out(self, kind: str, value: str, reason: str | None, by: str | None) -> int:
        return self.store.add_opt_out(kind, value, reason, by)

    # -- reads ---------------------------------------------------------------------------
    def opt_outs(self) -> list[OptOut]:
        return self.store.list_opt_outs()

    def opted_out(self, **values: str | list[str] | None) -> str | None:
        return self.store.opted_out(**values)

    def events(self) -> list[ConsentEvent]:
        return self.store.consent_events()

    def blocked_files(self, record_id: int, reason_prefixes: tuple[str, ...]) -> list[tuple[str, str]]:
        return self.store.blocked_files(record_id, reason_prefixes)

    def pending_purges(self) -> int:
        return len(self.store.pending_jobs())

    # -- the purge -------------------------------------------------------------------------
    def _settle(self, ids: list[int], job: int | None) -> Withdrawal:
        """Apply every pending job (this one included) and report what this one did."""
        self.run_pending()
        if job is None:
            return Withdrawal(ids)
        row = self.store.get_job(job)
        result: dict[str, Any] = dict(row.result or {}) if row else {}
        return Withdrawal(
            ids, deleted_cache_files=int(result.get("cache") or 0), index_build=result.get("index"),
            dataset_versions=[(int(d), int(v)) for d, v in result.get("datasets") or []],
            pending=row is None or row.done_at is None,
        )

    def run_pending(self) -> int:
        """Apply pending purge jobs in order, serialised across threads and processes; returns how many."""
        done = 0
        with exclusive(self.lock_path):
            for job in self.store.pending_jobs():
                result: dict[str, Any] = {}
                error = None
                for step in self.purgers:
                    try:
                        result[step.name] = step.purge(list(job.file_ids), job.reason)
                    except Exception as exc:  # keep going with the other steps; the job stays pending
                        log.exception("purge step %s failed for job %d", step.name, job.id)
                        error = f"{step.name}: {exc}"
                self.store.finish_job(job.id, result, error)
                done += error is None
        if done and self.on_purged is not None:
            self.on_purged()
        return done
