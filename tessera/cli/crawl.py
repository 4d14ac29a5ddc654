"""`tessera crawl zenodo|ia` and `tessera rejected`. The lead wires ``register`` into tessera/cli.py.

Run as ``tessera crawl …`` (``python -m tessera.cli crawl …`` in the kill-and-resume test).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from tessera.catalog.store import Catalog
from tessera.catalog.visibility import OPERATOR
from tessera.cli.common import services
from tessera.compose import consent_service
from tessera.consent.service import ConsentService
from tessera.core.settings import Settings
from tessera.crawlers.archives import ArchiveLimits
from tessera.crawlers.errors import CrawlError
from tessera.crawlers.harvest import crawl, remove_partial_downloads
from tessera.crawlers.http import (
    IA_LIMIT,
    ZENODO_GUEST,
    ZENODO_SEARCH,
    ZENODO_TOKEN,
    PoliteClient,
    RetryPolicy,
    SlidingWindowLimiter,
    scaled,
)
from tessera.crawlers.intake import Harvester
from tessera.crawlers.sources.base import Source
from tessera.crawlers.sources.internet_archive import IASource
from tessera.crawlers.sources.zenodo import ZenodoSource
from tessera.crawlers.summary import CrawlSummary, HarvestOptions

err_console = Console(stderr=True)



@contextmanager
def _progress(quiet: bool) -> Iterator[Any]:
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=quiet,
    ) as prog:
        yield prog


def _report(summary: CrawlSummary, as_json: bool) -> None:
    d = summary.as_dict()
    if as_json:
        typer.echo(json.dumps(d, indent=2))
        return
    rejected = ", ".join(f"{k}: {v}" for k, v in d["rejected"].items()) or "none"
    # files refused one by one (also inside records that were harvested): `tessera rejected` lists them too
    files_rejected = ", ".join(f"{k}: {v}" for k, v in d["files_rejected"].items()) or "none"
    typer.echo(
        f"{summary.source}{' (dry run)' if summary.dry_run else ''}: seen {d['seen']}, "
        f"harvested {d['harvested']} ({d['unchanged']} unchanged, {d['superseded']} older versions skipped), "
        f"rejected {d['rejected_total']} "
        f"({rejected}), files rejected {sum(d['files_rejected'].values())} ({files_rejected}), "
        f"files downloaded {d['files_downloaded']} ({d['bytes']} bytes), "
        f"files added {d['files_added']}, taken down {d['files_taken_down']}, "
        f"restored {d['files_restored']}, errors {d['errors']}"
    )
    for e in d["error_details"][:20]:
        typer.echo(f"  error {e['identifier']}: {e['error']}", err=True)
    for w in d["warnings"]:
        typer.echo(f"  warning: {w}", err=True)


def _options(settings: Settings, consent: ConsentService, dry_run: bool) -> HarvestOptions:
    return HarvestOptions(
        cache_dir=settings.cache_dir,
        max_file_bytes=settings.max_file_bytes,
        archive_limits=ArchiveLimits(max_total_bytes=settings.max_file_bytes * 4),
        dry_run=dry_run,
        consent=consent,
    )


def _harvest(settings: Settings, catalog: Catalog, consent: ConsentService | None, source: Source,
             client: PoliteClient, summary: CrawlSummary, since: str | None, limit: int | None, dry_run: bool,
             progress: Any) -> None:
    """Run one source through the generic harvest loop; the client's request counts go into the summary."""
    options = _options(settings, consent or consent_service(catalog.db, settings), dry_run)
    harvester = Harvester(catalog, source, options, summary, progress=progress)
    try:
        crawl(source, harvester, since=since, limit=limit)
    finally:
        summary.add_client_stats(client)


def crawl_zenodo(
    settings: Settings,
    catalog: Catalog,
    *,
    consent: ConsentService | None = None,
    query: str | None = None,
    community: str | None = None,
    resource_type: str | None = None,
    since: str | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    time_scale: float = 1.0,
    page_size: int | None = None,
    retry: RetryPolicy | None = None,
    progress: Any = None,
) -> CrawlSummary:
    """Build the Zenodo crawler from settings and run it (used by the CLI and by tests)."""
    token = settings.zenodo_token
    limiter = SlidingWindowLimiter(scaled(ZENODO_TOKEN if token else ZENODO_GUEST, 0.9, time_scale))
    search = SlidingWindowLimiter(scaled(ZENODO_SEARCH, 0.9, time_scale))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    summary = CrawlSummary(source="zenodo", dry_run=dry_run)
    with PoliteClient(settings.user_agent, limiter, retry, headers=headers) as client:
        source = ZenodoSource(
            client,
            search,
            settings.zenodo_url,
            page_size=page_size or (100 if token else 25),
            query=query,
            community=community,
            resource_type=resource_type,
        )
        _harvest(settings, catalog, consent, source, client, summary, since, limit, dry_run, progress)
    return summary


def crawl_ia(
    settings: Settings,
    catalog: Catalog,
    *,
    consent: ConsentService | None = None,
    query: str | None = None,
    collection: str | None = None,
    since: str | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    time_scale: float = 1.0,
    page_size: int = 100,
    retry: RetryPolicy | None = None,
    progress: Any = None,
) -> CrawlSummary:
    limiter = SlidingWindowLimiter(scaled(IA_LIMIT, 1.0, time_scale))
    summary = CrawlSummary(source="internet_archive", dry_run=dry_run)
    with PoliteClient(settings.user_agent, limiter, retry) as client:
        source = IASource(client, settings.ia_url, page_size=page_size, query=query, collection=collection)
        _harvest(settings, catalog, consent, source, client, summary, since, limit, dry_run, progress)
    return summary


def register(app: typer.Typer) -> None:
    crawl = typer.Typer(
        help="Harvest openly licensed audio from Zenodo and the Internet Archive.", no_args_is_help=True
    )
    app.add_typer(crawl, name="crawl")

    def run(source: str, fn: Any, as_json: bool, **kw: Any) -> None:
        svc = services()
        settings = svc.settings
        remove_partial_downloads(settings.cache_dir)
        with _progress(as_json) as prog:
            task = prog.add_task(f"crawling {source}", counts="")

            def tick(label: str) -> None:
                prog.update(task, description=label, counts="")

            try:
                summary = fn(settings, svc.catalog(OPERATOR), consent=svc.consent, progress=tick, **kw)
            except CrawlError as exc:
                err_console.print(f"[red]crawl failed:[/red] {exc.message}")
                raise typer.Exit(1) from exc
        _report(summary, as_json)

    @crawl.command("zenodo")
    def zenodo_cmd(
        query: str = typer.Option(None, "--query", "-q", help="Zenodo search query."),
        community: str = typer.Option(None, "--community", help="Community slug."),
        resource_type: str = typer.Option(None, "--type", help="Resource type, e.g. dataset."),
        since: str = typer.Option(None, "--since", help="Only records updated since this date (ISO 8601)."),
        limit: int = typer.Option(None, "--limit", help="Stop after this many records."),
        dry_run: bool = typer.Option(
            False, "--dry-run", help="Check records and licences, download nothing."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
        time_scale: float = typer.Option(
            1.0, "--time-scale", hidden=True, help="Compress rate windows (tests)."
        ),
        page_size: int = typer.Option(None, "--page-size", hidden=True),
    ) -> None:
        """Harvest Zenodo records."""
        run(
            "zenodo",
            crawl_zenodo,
            as_json,
            query=query,
            community=community,
            resource_type=resource_type,
            since=since,
            limit=limit,
            dry_run=dry_run,
            time_scale=time_scale,
            page_size=page_size,
        )

    @crawl.command("ia")
    def ia_cmd(
        query: str = typer.Option(None, "--query", "-q", help="Internet Archive search query."),
        collection: str = typer.Option(None, "--collection", help="Collection identifier."),
        since: str = typer.Option(None, "--since", help="Only items updated since this date (ISO 8601)."),
        limit: int = typer.Option(None, "--limit", help="Stop after this many items."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Check items and licences, download nothing."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
        time_scale: float = typer.Option(
            1.0, "--time-scale", hidden=True, help="Compress rate windows (tests)."
        ),
        page_size: int = typer.Option(100, "--page-size", hidden=True),
    ) -> None:
        """Harvest Internet Archive items."""
        run(
            "internet_archive",
            crawl_ia,
            as_json,
            query=query,
            collection=collection,
            since=since,
            limit=limit,
            dry_run=dry_run,
            time_scale=time_scale,
            page_size=page_size,
        )

    @app.command("rejected")
    def rejected_cmd(
        kind: str = typer.Option(None, "--kind", help="zenodo | internet_archive | folder"),
        reason: str = typer.Option(None, "--reason", help="e.g. no_licence, licence_not_open"),
        limit: int = typer.Option(50, "--limit"),
        offset: int = typer.Option(0, "--offset"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """List records and files that were seen but not taken in, and why."""
        rows, total = services().crawl_store.list_rejected(limit, offset, kind=kind, reason=reason)
        items = [rejected_as_dict(r) for r in rows]
        if as_json:
            typer.echo(
                json.dumps({"items": items, "total": total, "limit": limit, "offset": offset}, indent=2)
            )
            return
        for it in items:
            name = f" {it['filename']}" if it["filename"] else ""
            typer.echo(f"{it['kind']}:{it['identifier']}{name}  {it['reason']}  {it['detail'] or ''}")
        typer.echo(f"{len(items)} of {total} rejected", err=True)


def rejected_as_dict(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "kind": r.kind,
        "identifier": r.identifier,
        "filename": r.filename,
        "reason": r.reason,
        "detail": r.detail,
        "url": r.url,
        "seen_at": r.seen_at.isoformat() if r.seen_at else None,
    }
