"""The `tessera` command line. Settings are built once here and passed down."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tessera.catalog.db import Database
from tessera.catalog.settings import Settings
from tessera.catalog.store import Catalog
from tessera.errors import TesseraError

app = typer.Typer(no_args_is_help=True, help="Tessera: find, name and carve out small, openly licensed "
                  "sound datasets by how they sound.")
out = Console()
err = Console(stderr=True)


def _catalog(settings: Settings) -> Catalog:
    settings.ensure_dirs()
    db = Database(settings.db_url)
    db.migrate()
    return Catalog(db)


def _fail(exc: TesseraError) -> None:
    err.print(f"[red]error:[/red] {exc.message}")
    raise typer.Exit(2)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err, transient=False)


@app.command()
def add(
    path: Annotated[Path, typer.Argument(help="A folder (searched recursively) or one audio file.")],
    licence: Annotated[str, typer.Option("--licence", "--license", help="SPDX id or CC URL, e.g. CC0-1.0")],
    creator: Annotated[str, typer.Option(help="Who made the recordings (for attribution).")],
    title: Annotated[str | None, typer.Option(help="Title of the collection; default: the folder name.")] = None,
    source_url: Annotated[str | None, typer.Option(help="Where the collection is published.")] = None,
    description: Annotated[str | None, typer.Option(help="A description of the collection.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Register every audio file under PATH as one source record."""
    from tessera.crawlers.folder import add_folder

    settings = Settings()
    try:
        catalog = _catalog(settings)
        with _progress() as prog:
            task = prog.add_task("registering", total=None)
            rep = add_folder(catalog, path, licence, creator, title, source_url, description,
                             on_file=lambda _p: prog.advance(task))
    except TesseraError as exc:
        _fail(exc)
        return
    result = {"record_id": rep.record_id, "found": rep.found, "added": rep.added, "unchanged": rep.unchanged,
              "unreadable": [{"file": f, "reason": r} for f, r in rep.unreadable]}
    if as_json:
        out.print_json(json.dumps(result))
        return
    out.print(f"record {rep.record_id}: {rep.found} audio files, {rep.added} new, {rep.unchanged} already known")
    for f, r in rep.unreadable:
        out.print(f"  [yellow]unreadable[/yellow] {f}: {r} (the indexer will record it as failed)")


@app.command()
def index(
    workers: Annotated[int, typer.Option(help="Worker processes; 0 = one per core.")] = -1,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address, e.g. tcp://host:8786.")] = None,
    retry_failed: Annotated[bool, typer.Option(help="Try files that failed before again.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Compute features for every file not yet indexed and rebuild the similarity indexes."""
    from tessera.indexer.run import IndexParams, run_index

    settings = Settings()
    from tessera.indexer.fingerprint import DuplicateParams

    params = IndexParams(settings.segment_seconds, settings.segment_min_duration, settings.max_audio_seconds,
                         settings.max_file_bytes, max_memory_bytes=settings.max_memory_bytes,
                         max_cpu_seconds_per_file=settings.max_cpu_seconds_per_file,
                         duplicates=DuplicateParams(max_bit_error_rate=settings.duplicate_max_bit_error_rate))
    try:
        catalog = _catalog(settings)
        with _progress() as prog:
            task = prog.add_task("indexing", total=None)
            rep = run_index(
                catalog, settings.index_dir, params, workers=settings.workers if workers < 0 else workers,
                scheduler=scheduler, retry_failed=retry_failed,
                on_start=lambda n: prog.update(task, total=n),
                on_result=lambda _i, _e: prog.advance(task),
            )
    except TesseraError as exc:
        _fail(exc)
        return
    if as_json:
        out.print_json(json.dumps(rep.as_dict()))
        return
    out.print(f"indexed {rep.indexed} of {rep.total} files ({rep.audio_seconds:.0f} s of audio); "
              f"{rep.failed} failed; {rep.duplicates} linked as duplicates")
    for fid, reason in rep.failures:
        out.print(f"  [yellow]failed[/yellow] item {fid}: {reason}")
    for name, m in rep.manifest.get("spaces", {}).items():
        out.print(f"  space {name}: {m['count']} vectors, dim {m['dimension']}, {m['index_type']}, "
                  f"recall@10 {m['recall_at_10']:.3f}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the JSON API and the web page."""
    import uvicorn

    from tessera.api.app import create_app

    settings = Settings()
    logging.basicConfig(level=logging.INFO)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@app.command()
def features(
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the data dictionary as Markdown.")] = False,
) -> None:
    """Print the data dictionary (every feature: unit, range, algorithm, meaning, reliability)."""
    from tessera.indexer.dictionary import dictionary
    from tessera.indexer.dictionary import markdown as md

    if markdown:
        sys.stdout.write(md())
    else:
        out.print_json(json.dumps(dictionary()))


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """How many files are pending, indexed and failed; why the failed ones failed."""
    settings = Settings()
    catalog = _catalog(settings)
    result: dict[str, Any] = {"counts": catalog.stats(),
                              "failed": [{"id": i, "file": f, "reason": r} for i, f, r in catalog.failed_files()]}
    if as_json:
        out.print_json(json.dumps(result))
        return
    out.print(result["counts"])
    for f in result["failed"]:
        out.print(f"  failed item {f['id']} {f['file']}: {f['reason']}")


user_app = typer.Typer(help="Users, roles and API keys (bootstrap the first admin here).", no_args_is_help=True)
app.add_typer(user_app, name="user")


def _accounts() -> Any:
    from tessera.catalog.accounts import AccountStore

    return AccountStore(_catalog(Settings()).db)


@user_app.command("add")
def user_add(name: str, role: Annotated[str, typer.Option(help="editor, moderator or admin")] = "editor") -> None:
    """Create a user with a role."""
    try:
        _accounts().add_user(name, role)
    except TesseraError as exc:
        _fail(exc)
    out.print(f"user {name} ({role}) created; issue a key with: tessera user key {name}")


@user_app.command("key")
def user_key(name: str) -> None:
    """Issue an API key for a user. It is printed once; only its hash is kept."""
    try:
        key = _accounts().issue_key(name)
    except TesseraError as exc:
        _fail(exc)
        return
    sys.stdout.write(key + "\n")


@user_app.command("role")
def user_role(name: str, role: str) -> None:
    """Change a user's role."""
    try:
        _accounts().set_role(name, role)
    except TesseraError as exc:
        _fail(exc)
    out.print(f"{name} is now {role}")


@user_app.command("revoke")
def user_revoke(prefix: str) -> None:
    """Revoke an API key by its prefix (the 8 hex digits after tsr_)."""
    try:
        _accounts().revoke_key(prefix)
    except TesseraError as exc:
        _fail(exc)
    out.print(f"key {prefix} revoked")


@user_app.command("password")
def user_password(
    name: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          envvar="TESSERA_NEW_PASSWORD", help="At least 10 characters.")],
) -> None:
    """Set the password a user signs in to the web app with (asked for; or $TESSERA_NEW_PASSWORD)."""
    try:
        _accounts().set_password(name, password)
    except TesseraError as exc:
        _fail(exc)
    out.print(f"password set for {name}")


@user_app.command("communities")
def user_communities(name: str, communities: Annotated[list[str], typer.Argument(help="Community names.")]) -> None:
    """Set the communities a user belongs to: they see material their communities' protocol labels restrict."""
    try:
        _accounts().set_communities(name, communities)
    except TesseraError as exc:
        _fail(exc)
    out.print(f"{name} belongs to: {', '.join(sorted(set(communities)))}")


@app.command()
def withdraw(
    scope: Annotated[str, typer.Argument(help="file, record or creator")],
    target: Annotated[str, typer.Argument(help="item id, record id or creator name")],
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit log).")] = None,
    actor: Annotated[str, typer.Option(help="Who confirmed the withdrawal.")] = "cli",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Withdraw consent: hide at once, purge features, vectors and cached audio, keep an audit entry."""
    from tessera import consent

    settings = Settings()
    try:
        w = consent.withdraw(_catalog(settings), settings, scope, target, actor, reason)
    except TesseraError as exc:
        _fail(exc)
        return
    result = {"withdrawn": w.file_ids, "deleted_cache_files": w.deleted_cache_files, "index_build": w.index_build,
              "dataset_versions": w.dataset_versions}
    if as_json:
        out.print_json(json.dumps(result))
    else:
        out.print(f"withdrew {len(w.file_ids)} files; {w.deleted_cache_files} cached downloads deleted")


@app.command("opt-out")
def opt_out(
    kind: Annotated[str, typer.Argument(help="creator, orcid, ia_uploader or zenodo_community")],
    value: str,
    reason: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Add to the opt-out registry: future crawls will not harvest these works."""
    try:
        _accounts().add_opt_out(kind, value, reason, "cli")
    except TesseraError as exc:
        _fail(exc)
    out.print(f"opt-out registered: {kind} {value}")


def _register_stages() -> None:
    from tessera.crawlers.cli import register as register_crawlers
    from tessera.datasets.cli import register as register_datasets
    from tessera.taxonomy.cli import register as register_taxonomy

    register_crawlers(app)
    register_taxonomy(app)
    register_datasets(app)


_register_stages()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
