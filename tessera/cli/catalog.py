"""Commands of the catalogue and indexer: add, index, status, features, serve."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tessera.catalog.visibility import OPERATOR
from tessera.cli.common import fail, out, progress, services
from tessera.core.errors import TesseraError


def register(app: typer.Typer) -> None:
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
        from tessera.crawlers.sources.folder import add_folder

        try:
            catalog = services().catalog(OPERATOR)
            with progress() as prog:
                task = prog.add_task("registering", total=None)
                rep = add_folder(catalog, path, licence, creator, title, source_url, description,
                                 on_file=lambda _p: prog.advance(task))
        except TesseraError as exc:
            fail(exc)
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
        scheduler: Annotated[str | None, typer.Option(
            help="Dask scheduler address, e.g. tcp://host:8786 (default: TESSERA_DASK_SCHEDULER); its workers "
                 "fetch each file by URL (docs/DEPLOY.md).")] = None,
        retry_failed: Annotated[bool, typer.Option(help="Try files that failed before again.")] = False,
        rebuild: Annotated[bool, typer.Option(help="Rebuild every similarity index instead of adding to it.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    ) -> None:
        """Compute features for every file not yet indexed and add them to the similarity indexes (a full
        rebuild only when the metric, the index kind or the statistics must change)."""
        from tessera.indexer.distributed import RemoteAccess
        from tessera.indexer.fingerprint import DuplicateParams
        from tessera.indexer.run import IndexParams, run_index

        svc = services()
        settings = svc.settings

        params = IndexParams(settings.segment_seconds, settings.segment_min_duration, settings.max_audio_seconds,
                             settings.max_file_bytes, max_memory_bytes=settings.max_memory_bytes,
                             max_cpu_seconds_per_file=settings.max_cpu_seconds_per_file,
                             duplicates=DuplicateParams(max_bit_error_rate=settings.duplicate_max_bit_error_rate))
        remote = RemoteAccess(path_map=settings.dask_path_map, audio_url=settings.worker_audio_url,
                              audio_key=settings.dask_audio_key, connect_timeout=settings.dask_connect_timeout,
                              workers_timeout=settings.dask_connect_timeout)
        try:
            with progress() as prog:
                task = prog.add_task("indexing", total=None)
                rep = run_index(
                    svc.index_store, settings.index_dir, params, workers=settings.workers if workers < 0 else workers,
                    scheduler=scheduler or settings.dask_scheduler, retry_failed=retry_failed, rebuild=rebuild,
                    remote=remote,
                    on_start=lambda n: prog.update(task, total=n),
                    on_result=lambda _i, _e: prog.advance(task),
                )
        except TesseraError as exc:
            fail(exc)
        if as_json:
            out.print_json(json.dumps(rep.as_dict()))
            return
        out.print(f"indexed {rep.indexed} of {rep.total} files ({rep.audio_seconds:.0f} s of audio); "
                  f"{rep.failed} failed; {rep.duplicates} linked as duplicates")
        for fid, reason in rep.failures:
            out.print(f"  [yellow]failed[/yellow] item {fid}: {reason}")
        man = rep.manifest
        how = (f"full build ({man.get('rebuild_reason')})" if man.get("kind") == "build" else
               f"{man.get('kind')} (+{man.get('rows_added', 0)} / -{man.get('rows_removed', 0)} rows)")
        how = "unchanged" if man.get("unchanged") else how
        out.print(f"index {man.get('build')}: {how}")
        for name, m in man.get("spaces", {}).items():
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
        from tessera.api.serving import uvicorn_config

        logging.basicConfig(level=logging.INFO)
        svc = services()
        uvicorn.Server(uvicorn_config(create_app(svc), svc.settings, host, port, log_level="info")).run()


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
        svc = services()
        result: dict[str, Any] = {"counts": svc.catalog(OPERATOR).stats(),
                                  "failed": [{"id": i, "file": f, "reason": r}
                                             for i, f, r in svc.index_store.failed_files()]}
        if as_json:
            out.print_json(json.dumps(result))
            return
        out.print(result["counts"])
        for f in result["failed"]:
            out.print(f"  failed item {f['id']} {f['file']}: {f['reason']}")
