"""The FastAPI application, built over the services of the composition root."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from tessera import __version__
from tessera.api import auth, errors, hardening
from tessera.api.deps import CatalogDep, ViewerDep
from tessera.api.routers import consent as consent_router
from tessera.api.routers import datasets, items, moderation, rejected, search, taxonomy
from tessera.api.routers import map as map_router
from tessera.api.schemas import Health
from tessera.compose import Services
from tessera.consent.service import Withdrawal
from tessera.search.sandbox import DecodeSandbox, GateLimits

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent.parent / "frontend" / "static"


def sweep_consent_once(services: Services) -> Withdrawal:
    """One pass of the sweeper: purge items whose consent period ended, retry owed purges."""
    w = services.sweep()
    if w.file_ids:
        log.info("consent lapsed for %d files", len(w.file_ids))
    return w


async def _sweep_consent(services: Services, every: float = 60.0) -> None:
    """Let timed consent lapse by itself, through the consent service, on a schedule."""
    while True:
        try:
            await asyncio.to_thread(sweep_consent_once, services)
        except Exception:  # the sweeper must outlive a passing database error
            log.exception("consent sweep failed")
        await asyncio.sleep(every)


def create_app(services: Services) -> FastAPI:
    """Build the app over the services the composition root built (``tessera.compose.build``)."""
    import faiss

    # a single query is faster on one OpenMP thread, and requests run concurrently anyway
    faiss.omp_set_num_threads(1)
    settings = services.settings
    # uploads are decoded in limited worker processes behind a per-address and queue-length gate
    sandbox = DecodeSandbox(limits=GateLimits(workers=settings.upload_workers, queue_wait=settings.upload_queue_wait,
                                              max_waiting=settings.upload_max_waiting,
                                              per_client=settings.uploads_per_address))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sweeper = asyncio.create_task(_sweep_consent(services))
        yield
        sweeper.cancel()
        sandbox.close()
        services.close()

    app = FastAPI(
        title="Tessera",
        version=__version__,
        description="Find, name and carve out small, openly licensed sound datasets by how they sound. "
        "Every answer about a recording carries its licence, attribution, source and md5.",
        lifespan=lifespan,
        docs_url=None,  # hardening.install serves /docs from bundled files, not a CDN
        redoc_url=None,
    )
    app.state.services = services
    app.state.sandbox = sandbox
    errors.install(app)
    auth.install(app, settings, services.accounts)
    hardening.install(app, settings)  # after auth: its headers wrap the limits' answers too
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"])
    for router in (items.router, search.router, datasets.router, taxonomy.router, rejected.router,
                   consent_router.router, moderation.router, map_router.router):
        app.include_router(router, responses=errors.ERROR_RESPONSES)

    @app.get("/health", response_model=Health, tags=["meta"], responses=errors.ERROR_RESPONSES)
    def health(catalog: CatalogDep, viewer: ViewerDep) -> Health:
        try:
            with services.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            db_state = "ok"
        except Exception as exc:  # report, do not fail: health must always answer
            log.warning("database check failed: %s", exc)
            db_state = "unavailable"
        counts = catalog.stats() if db_state == "ok" else {}
        idx = services.indexes
        idx.refresh()
        # an index holds protocol-restricted rows too: its row counts are for those who see everything
        index = {"build": idx.manifest.get("build"),
                 "spaces": {k: v.get("count") if viewer.sees_all else None
                            for k, v in idx.manifest.get("spaces", {}).items()}}
        return Health(status="ok" if db_state == "ok" else "degraded", version=__version__, database=db_state,
                      items=counts, index=index, source=settings.source_url)

    @app.get("/source", include_in_schema=False)
    def source() -> RedirectResponse:
        """The source of this server, offered to everyone who uses it (AGPL-3.0 section 13)."""
        return RedirectResponse(settings.source_url, status_code=302)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index_page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    return app
