"""`tessera cluster`, `tessera scheme …`, `tessera label …`, `tessera skos`. The lead wires ``register``.

Who acts is given with ``--user`` (default: $USER); this is provisional until CLI identities
come with the roles issue. The CLI runs on the operator's machine, so it acts as an admin would
(``accept --override`` bypasses the scheme's rule and says so in the history).
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic_core import to_jsonable_python

from tessera.catalog.visibility import OPERATOR
from tessera.cli.common import services
from tessera.core.errors import TesseraError
from tessera.taxonomy.cluster import ClusterParams
from tessera.taxonomy.store import TaxonomyStore

DEFAULT_BASE = "https://tessera.invalid/api"
PARALLEL_MIN = ClusterParams.parallel_min_items
UserOpt = Annotated[str | None, typer.Option("--user", help="Who is acting (recorded in the history).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _store() -> TaxonomyStore:
    return services().taxonomy(OPERATOR)  # the operator at the machine sees every item


def _who(user: str | None) -> str:
    return user or getpass.getuser()


def _fail(exc: TesseraError) -> None:
    typer.echo(f"error: {exc.message}", err=True)
    raise typer.Exit(2)


def _emit(data: Any, as_json: bool, text: str) -> None:
    # records are pydantic models: dumped with the API's field names
    typer.echo(json.dumps(to_jsonable_python(data, by_alias=True), indent=2, ensure_ascii=False) if as_json
               else text)


def cluster(
    space: Annotated[str, typer.Option(help="Similarity space: all, timbre, rhythm or tonal.")] = "all",
    min_cluster_size: Annotated[int | None, typer.Option(help="Smallest group; default ~4% of items.")] = None,
    seed: Annotated[int | None, typer.Option(
        help="Random seed for a reproducible run (the same seed gives the same groups). Seeded runs are "
             "single-threaded and slower on big collections; without a seed every core is used "
             f"(from {PARALLEL_MIN} items: below that one thread is faster).")] = None,
    selection: Annotated[str, typer.Option(
        help="HDBSCAN cluster selection: leaf (the finest stable groups, default) or eom (fewer, larger).")]
    = "leaf",
    user: UserOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Group items by how they sound (UMAP + HDBSCAN), explain each group and keep identities across runs."""
    from tessera.taxonomy.service import run_clustering

    if min_cluster_size is not None and min_cluster_size < 2:
        typer.echo("error: --min-cluster-size must be at least 2", err=True)
        raise typer.Exit(2)
    if selection not in ("leaf", "eom"):
        typer.echo("error: --selection must be leaf or eom", err=True)
        raise typer.Exit(2)
    try:
        svc = services()
        store = _store()
        mode = f"seed {seed}, single-threaded" if seed is not None else f"no seed: all cores from {PARALLEL_MIN} items"
        typer.echo(f"clustering ({mode}; the first run in a process compiles numba code: ~30-60 s)…", err=True)
        params = ClusterParams(space=space, min_cluster_size=min_cluster_size, seed=seed,
                               selection="eom" if selection == "eom" else "leaf")
        rep = run_clustering(svc.index_store, store, params, created_by=_who(user))
    except TesseraError as exc:
        _fail(exc)
        return
    lines = [f"run {rep.run_id} ({rep.space}): {rep.items} items, {rep.clusters} clusters, "
             f"{rep.unclustered} unclustered; lineage {rep.lineage or {}}"]
    lines += [f"  cluster {s['label']} ({s['size']} items): {s['summary']}" for s in rep.summaries]
    _emit(rep.as_dict(), as_json, "\n".join(lines))


scheme_app = typer.Typer(no_args_is_help=True, help="Community concept schemes.")
label_app = typer.Typer(no_args_is_help=True, help="Propose, vote on, accept and link labels.")


@scheme_app.command("add")
def scheme_add(
    slug: str,
    name: Annotated[str, typer.Option(help="Display name of the scheme.")],
    community: Annotated[str | None, typer.Option(help="The community that owns it.")] = None,
    description: Annotated[str | None, typer.Option()] = None,
    min_net_votes: Annotated[int | None, typer.Option(help="Accept a label at this many net votes.")] = None,
    steward_approval: Annotated[bool, typer.Option(help="A steward may accept labels.")] = False,
    steward: Annotated[list[str] | None, typer.Option(help="A steward's user name (repeatable).")] = None,
    user: UserOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a concept scheme with its acceptance rule and stewards."""
    rule: dict[str, Any] = {}
    if min_net_votes is not None:
        rule["min_net_votes"] = min_net_votes
    if steward_approval:
        rule["steward_approval"] = True
    try:
        store = _store()
        sc = store.add_scheme(slug, name, rule, _who(user), description, community, steward or [])
    except TesseraError as exc:
        _fail(exc)
        return
    _emit(sc, as_json, f"scheme {sc.slug} created (rule {sc.rule}, stewards {', '.join(sc.stewards)})")


@scheme_app.command("list")
def scheme_list(as_json: JsonOpt = False) -> None:
    store = _store()
    items, _ = store.list_schemes(1000, 0)
    _emit(items, as_json, "\n".join(f"{s.slug}: {s.name} ({s.community or '-'})" for s in items))


@label_app.command("propose")
def label_propose(
    scheme: str,
    text: str,
    lang: Annotated[str, typer.Option(help="BCP 47 language tag, e.g. en, yo, pt-BR.")],
    cluster: Annotated[int | None, typer.Option(help="Cluster id (the label goes to its identity).")] = None,
    item: Annotated[int | None, typer.Option(help="Item id, to name a single recording.")] = None,
    description: Annotated[str | None, typer.Option()] = None,
    cultural_context: Annotated[str | None, typer.Option()] = None,
    user: UserOpt = None,
    as_json: JsonOpt = False,
) -> None:
    try:
        store = _store()
        lab = store.propose_label(scheme, text, lang, _who(user), cluster_id=cluster, item_id=item,
                                  description=description, cultural_context=cultural_context)
    except TesseraError as exc:
        _fail(exc)
        return
    _emit(lab, as_json, f"label {lab.id} proposed: {lab.text!r}@{lab.lang}")


@label_app.command("vote")
def label_vote(label_id: int, down: Annotated[bool, typer.Option("--down", help="Vote -1.")] = False,
               user: UserOpt = None, as_json: JsonOpt = False) -> None:
    try:
        store = _store()
        lab = store.vote(label_id, _who(user), -1 if down else 1)
    except TesseraError as exc:
        _fail(exc)
        return
    _emit(lab, as_json, f"label {label_id}: net votes {lab.net_votes}, {lab.status}")


@label_app.command("accept")
def label_accept(label_id: int, override: Annotated[bool, typer.Option(help="Bypass the scheme's rule.")] = False,
                 user: UserOpt = None, as_json: JsonOpt = False) -> None:
    try:
        store = _store()
        lab = store.accept(label_id, _who(user), override=override)
    except TesseraError as exc:
        _fail(exc)
        return
    _emit(lab, as_json, f"label {label_id}: {lab.status}")


@label_app.command("link")
def label_link(label_id: int, other_label_id: int,
               kind: Annotated[str, typer.Option(help="exactMatch, closeMatch or related")] = "closeMatch",
               user: UserOpt = None) -> None:
    try:
        store = _store()
        store.link(label_id, other_label_id, kind, _who(user))
    except TesseraError as exc:
        _fail(exc)
        return
    typer.echo(f"label {label_id} {kind} label {other_label_id}")


@label_app.command("history")
def label_history(label_id: int, as_json: JsonOpt = False) -> None:
    try:
        store = _store()
        items, _ = store.history(label_id, 10_000, 0)
    except TesseraError as exc:
        _fail(exc)
        return
    _emit(items, as_json, "\n".join(f"{h.at} {h.actor}: {h.action} {h.detail}" for h in items))


def skos(
    scheme: str,
    fmt: Annotated[str, typer.Option("--format", help="turtle or json-ld")] = "turtle",
    base: Annotated[str, typer.Option(help="Base URI of concept URIs.")] = DEFAULT_BASE,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file.")] = None,
) -> None:
    """Export a scheme as SKOS."""
    from tessera.taxonomy.skos import FORMATS, serialise

    if fmt not in FORMATS:
        typer.echo(f"error: --format is one of {', '.join(FORMATS)}", err=True)
        raise typer.Exit(2)
    try:
        store = _store()
        text = serialise(store.skos_data(scheme), base, fmt)
    except TesseraError as exc:
        _fail(exc)
        return
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        typer.echo(text)


def register(app: typer.Typer) -> None:
    app.command("cluster")(cluster)
    app.command("skos")(skos)
    app.add_typer(scheme_app, name="scheme")
    app.add_typer(label_app, name="label")
