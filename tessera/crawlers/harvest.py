"""The generic harvest loop: it knows sources only through their contract (``sources.base.Source``).

Records that failed last time are retried first (the listing has moved past them); then the
listing is followed from its saved state, each record taken in by the ``Harvester`` and the state
saved after it, so a killed or limited run carries on where it stopped. Per record, the outcome is
harvested | unchanged | rejected | superseded | error; only errors are retried on the next run.
"""

from __future__ import annotations

import copy
from typing import Any

from tessera.crawlers.errors import FetchError, MalformedRecord, NotFoundAtSource
from tessera.crawlers.files import remove_partial_downloads
from tessera.crawlers.intake import OPTED_OUT, Harvester
from tessera.crawlers.sources.base import Listed, Source

# OPTED_OUT stays importable from here: tessera/api/routers/rejected.py names it by this path
__all__ = ["OPTED_OUT", "crawl", "remove_partial_downloads"]


def crawl(source: Source, harvester: Harvester, since: str | None = None, limit: int | None = None) -> None:
    store, dry = harvester.crawl_store, harvester.options.dry_run
    key = source.state_key()
    state: dict[str, Any] = store.get_crawl_state(key)
    failed: list[str] = list(state.get("failed", []))
    saved = copy.deepcopy(state)
    done = 0

    def save() -> None:
        nonlocal saved
        state["failed"] = sorted(set(failed))
        # in memory even on a dry run (it drives paging); written only when something moved
        if not dry and state != saved:
            store.set_crawl_state(source.kind, key, state)
            saved = copy.deepcopy(state)

    try:
        for identifier in list(failed):
            if limit is not None and done >= limit:
                return
            done += 1
            if _take(source, harvester, Listed(identifier)) != "error":
                failed.remove(identifier)
                save()
        for listed in source.list_records(state, since):
            # the listing is asked for the next record before the limit is checked, as a
            # limited run's state then already points at it
            if limit is not None and done >= limit:
                break
            done += 1
            if _take(source, harvester, listed) == "error" and listed.identifier not in failed:
                failed.append(listed.identifier)
            state.update(listed.checkpoint)
            save()
        save()
    finally:
        harvester.summary.warnings.extend(source.warnings)


def _take(source: Source, harvester: Harvester, listed: Listed) -> str:
    """One record through the harvester; a record gone or malformed at the source is rejected, not retried."""
    summary = harvester.summary
    try:
        return harvester.harvest(source.record(listed))
    except (NotFoundAtSource, MalformedRecord) as exc:
        summary.seen += 1
        summary.rejected[exc.code] += 1
        if not harvester.options.dry_run:
            harvester.crawl_store.record_rejected(source.kind, listed.identifier, exc.code, str(exc))
        return "rejected"
    except FetchError as exc:
        harvester.error(source.kind, listed.identifier, exc)
        return "error"
