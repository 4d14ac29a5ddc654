"""The composition root: settings → database → indexes → services, built once per process.

Both surfaces use it: ``create_app(build(settings))`` for the API and ``tessera.cli`` for the command
line. Stores that can return items are made per viewer (``services.catalog(viewer)``): there is no
store that sees everything unless the caller names ``OPERATOR``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import MetaData

from tessera.accounts.moderation import ModerationStore
from tessera.accounts.store import AccountStore
from tessera.catalog.protocols import ProtocolStore
from tessera.catalog.store import Catalog
from tessera.catalog.visibility import Viewer
from tessera.consent.service import ConsentService, Withdrawal
from tessera.core.db import Database
from tessera.core.settings import Settings
from tessera.crawlers.store import CrawlStore
from tessera.datasets.purge import DatasetPurger
from tessera.datasets.store import DatasetStore
from tessera.indexer.purge import IndexPurger, PreviewPurger
from tessera.indexer.similarity import IndexSet
from tessera.indexer.store import IndexStore
from tessera.search.store import SearchStore
from tessera.taxonomy.store import TaxonomyStore


@dataclass
class Services:
    settings: Settings
    db: Database
    consent: ConsentService
    accounts: AccountStore
    index_store: IndexStore
    crawl_store: CrawlStore
    indexes: IndexSet = field(repr=False)

    # stores that read items: one per viewer, never a default
    def catalog(self, viewer: Viewer) -> Catalog:
        return Catalog(self.db, viewer)

    def taxonomy(self, viewer: Viewer) -> TaxonomyStore:
        return TaxonomyStore(self.db, viewer)

    def search(self, viewer: Viewer) -> SearchStore:
        return SearchStore(self.db, viewer)

    def datasets(self, viewer: Viewer) -> DatasetStore:
        return DatasetStore(self.db, viewer)

    def protocols(self, viewer: Viewer) -> ProtocolStore:
        return ProtocolStore(self.db, viewer)

    def moderation(self, viewer: Viewer) -> ModerationStore:
        return ModerationStore(self.db, viewer)

    def sweep(self) -> Withdrawal:
        """Let lapsed consent take full effect (and retry owed purges): every entry point calls this first."""
        return self.consent.sweep()

    def close(self) -> None:
        self.db.dispose()


def consent_service(db: Database, settings: Settings, on_purged: Callable[[], None] | None = None) -> ConsentService:
    """The consent service with every purge step: index vectors, previews, datasets (and cached audio)."""
    return ConsentService(
        db, settings.data_dir, settings.cache_dir,
        purgers=[IndexPurger(settings.index_dir), PreviewPurger(settings.previews_dir), DatasetPurger(db)],
        on_purged=on_purged,
    )


def build(settings: Settings, migrate: bool = True) -> Services:
    settings.ensure_dirs()
    db = Database(settings.db_url)
    if migrate:
        db.migrate()
    indexes = IndexSet(settings.index_dir)
    consent = consent_service(db, settings, on_purged=indexes.refresh)
    return Services(settings=settings, db=db, consent=consent, accounts=AccountStore(db),
                    index_store=IndexStore(db), crawl_store=CrawlStore(db), indexes=indexes)


def metadata() -> MetaData:
    """Every stage's tables, as one MetaData (the migrations must create exactly these)."""
    import tessera.accounts.models
    import tessera.accounts.moderation_models
    import tessera.catalog.models
    import tessera.consent.models
    import tessera.core.audit
    import tessera.crawlers.models
    import tessera.datasets.models
    import tessera.taxonomy.models  # noqa: F401
    from tessera.core.models import Base

    return Base.metadata
