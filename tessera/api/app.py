"""The FastAPI application, built from one Settings object."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from tessera import __version__
from tessera.api import auth, errors
from tessera.api.deps import get_catalog
from tessera.api.routers import consent as consent_router
from tessera.api.routers import datasets, items, moderation, rejected, search, taxonomy
from tessera.api.routers import map as map_router
from tessera.api.schemas import Health
from tessera.catalog.accounts import AccountStore
from tessera.catalog.db import Database
from tessera.catalog.settings import Settings
from tessera.catalog.store import Catalog
from tessera.consent import Withdrawal
from tessera.indexer.similarity import IndexSet
from tessera.search.sandbox import DecodeSandbox

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent.parent / "frontend" / "static"


def sweep_consent_once(app: FastAPI) -> Withdrawal:
    """One pass of the sweeper: purge items whose consent period ended and reload the indexes."""
    from tessera import consent

    w = consent.sweep_expired(app.state.catalog, app.state.settings)
    if w.file_ids:
        log.info("consent lapsed for %d files", len(w.file_ids))
        app.state.indexes.refresh()
    return w


async def _sweep_consent(app: FastAPI, every: float = 60.0) -> None:
    """Let timed consent lapse by itself: purge lapsed items and take them out of the indexes."""
    while True:
        try:
            await asyncio.to_thread(sweep_consent_once, app)
        except Exception:  # the sweeper must outlive a passing database error
            log.exception("consent sweep failed")
        await asyncio.sleep(every)


def create_app(settings: Settings, migrate: bool = True) -> FastAPI:
    """Build the app; every dependency hangs off ``app.state`` and comes from ``settings``."""
    import faiss

    # a single query is faster on one OpenMP thread, and requests run concurrently anyway
    faiss.omp_set_num_threads(1)
    settings.ensure_dirs()
    db = Database(settings.db_url)
    if migrate:
        db.migrate()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sweeper = asyncio.create_task(_sweep_consent(app))
        yield
        sweeper.cancel()
        app.state.sandbox.close()
        db.dispose()

    app = FastAPI(
        title="Tessera",
        version=__version__,
        description="Find, name and carve out small, openly licensed sound datasets by how they sound. "
        "Every answer about a recording carries its licence, attribution, source and md5.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.catalog = Catalog(db)
    app.state.indexes = IndexSet(settings.index_dir)
    app.state.accounts = AccountStore(db)
    app.state.sandbox = DecodeSandbox()  # uploads are decoded in limited worker processes
    errors.install(app)
    auth.install(app, settings, app.state.accounts)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"])
    for router in (items.router, search.router, datasets.router, taxonomy.router, rejected.router,
                   consent_router.router, moderation.router, map_router.router):
        app.include_router(router, responses=errors.ERROR_RESPONSES)

    @app.get("/health", response_model=Health, tags=["meta"], responses=errors.ERROR_RESPONSES)
    def health(request: Request, catalog: Annotated[Catalog, Depends(get_catalog)]) -> Health:
        try:
            with db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            db_state = "ok"
        except Exception as exc:  # report, do not fail: health must always answer
            log.warning("database check failed: %s", exc)
            db_state = "unavailable"
        counts = catalog.stats() if db_state == "ok" else {}
        idx: IndexSet = request.app.state.indexes
        idx.refresh()
        index = {"build": idx.manifest.get("build"),
                 "spaces": {k: v.get("count") for k, v in idx.manifest.get("spaces", {}).items()}}
        return Health(status="ok" if db_state == "ok" else "degraded", version=__version__, database=db_state,
                      items=counts, index=index)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index_page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    return app
