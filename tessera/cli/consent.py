"""Commands of the consent stage: withdraw and opt out (both go through the consent service)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from tessera.cli.common import emit, fail, out, services
from tessera.core.errors import TesseraError


def register(app: typer.Typer) -> None:
    @app.command()
    def withdraw(
        scope: Annotated[str, typer.Argument(help="file, record or creator")],
        target: Annotated[str, typer.Argument(help="item id, record id or creator name")],
        reason: Annotated[str | None, typer.Option(help="Why (kept in the audit log).")] = None,
        actor: Annotated[str, typer.Option(help="Who confirmed the withdrawal.")] = "cli",
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Withdraw consent: hide at once, purge features, vectors and cached audio, keep an audit entry."""
        try:
            w = services().consent.withdraw(scope, target, actor, reason)
        except TesseraError as exc:
            fail(exc)
        result = {"withdrawn": w.file_ids, "deleted_cache_files": w.deleted_cache_files, "index_build": w.index_build,
                  "dataset_versions": [{"dataset_id": d, "version": v} for d, v in w.dataset_versions],
                  "purge_pending": w.pending}
        if as_json:
            out.print_json(json.dumps(result))
        else:
            out.print(f"withdrew {len(w.file_ids)} files; {w.deleted_cache_files} cached downloads deleted")


    @app.command("opt-out")
    def opt_out(
        kind: Annotated[str, typer.Argument(help="creator, orcid, ia_uploader or zenodo_community")],
        value: str,
        reason: Annotated[str | None, typer.Option()] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Add to the opt-out registry: future crawls will not harvest these works."""
        try:
            oid = services().consent.add_opt_out(kind, value, reason, "cli")
        except TesseraError as exc:
            fail(exc)
        emit({"id": oid, "kind": kind}, as_json, f"opt-out registered: {kind} {value}")
