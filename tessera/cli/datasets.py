"""`tessera export` and `tessera dataset create|add|remove|edit|list`.

The lead wires ``register`` into tessera/cli.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tessera.catalog.visibility import OPERATOR
from tessera.cli.common import services
from tessera.core.errors import TesseraError
from tessera.datasets.store import DatasetStore, MemberIn

out = Console()
err = Console(stderr=True)
dataset_app = typer.Typer(no_args_is_help=True, help="Curated, versioned datasets.")


def _store() -> DatasetStore:
    return services().datasets(OPERATOR)  # the operator at the machine: datasets as they are


def _ref(store: DatasetStore, ref: str) -> int:
    return store.get(int(ref) if ref.isdigit() else ref).id


def _members(items: list[int] | None, segments: list[str] | None) -> list[MemberIn]:
    ms = [MemberIn(i) for i in items or []]
    for s in segments or []:  # ITEM:SEGMENT
        item, _, seg = s.partition(":")
        if not (item.isdigit() and seg.isdigit()):
            raise typer.BadParameter(f"segments are ITEM:SEGMENT ids, got {s!r}")
        ms.append(MemberIn(int(item), int(seg)))
    return ms


def _fail(exc: TesseraError) -> None:
    err.print(f"[red]error:[/red] {exc.message}")
    raise typer.Exit(2)


ItemsOpt = Annotated[list[int] | None, typer.Option("--item", "-i", help="Item id (repeatable).")]
SegOpt = Annotated[list[str] | None, typer.Option("--segment", help="ITEM:SEGMENT (repeatable).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@dataset_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    item: ItemsOpt = None,
    segment: SegOpt = None,
    description: Annotated[str | None, typer.Option(help="Purpose of the dataset.")] = None,
    notes: Annotated[str | None, typer.Option(help="Curation notes.")] = None,
    by: Annotated[str | None, typer.Option(help="Curator name.")] = None,
    cluster: Annotated[int | None, typer.Option(help="Take every member of this cluster.")] = None,
    label: Annotated[str | None, typer.Option(help="Take every item carrying this community label.")] = None,
    q: Annotated[str | None, typer.Option("--q", "--text", help="Take every item matching this full-text "
                                          "query (the `q` filter).")] = None,
    filter_: Annotated[list[str] | None, typer.Option(
        "--filter", "-f", metavar="NAME=VALUE", help="Take every item passing this filter of GET /api/search "
        "(repeatable; all must hold).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a dataset (version 1) from item ids, or from every item passing filters (a cluster, a community
    label, a text query or any other filter of GET /api/search)."""
    from tessera.search.filters import from_pairs

    try:
        flt = from_pairs(filter_ or [], cluster=cluster, label=label, q=q)
        st = _store()
        members = _members(item, segment)
        origin: dict[str, object] = {"kind": "manual"}
        if not flt.is_empty():
            found = sorted(services().search(OPERATOR).matching_ids(flt))
            members += [MemberIn(f) for f in found]
            origin = {"kind": "query", "filters": flt.active()}
        d = st.create(name, members, description, notes, by, origin)
    except TesseraError as exc:
        _fail(exc)
        return
    res = {"id": d.id, "slug": d.slug, "version": 1, "members": st.version(d.id).member_count}
    out.print_json(json.dumps(res)) if as_json else out.print(
        f"dataset {d.id} ({d.slug}) version 1 with {res['members']} members")


def _change(ref: str, add: list[MemberIn], remove: list[MemberIn], notes: str | None, by: str | None,
            as_json: bool) -> None:
    try:
        st = _store()
        v = st.change(_ref(st, ref), add, remove, notes, by)
    except TesseraError as exc:
        _fail(exc)
        return
    res = {"version": v.version, "members": v.member_count}
    out.print_json(json.dumps(res)) if as_json else out.print(f"version {v.version}: {v.member_count} members")


@dataset_app.command("add")
def add(ref: Annotated[str, typer.Argument(help="Dataset id or slug.")], item: ItemsOpt = None,
        segment: SegOpt = None, notes: Annotated[str | None, typer.Option()] = None,
        by: Annotated[str | None, typer.Option()] = None, as_json: JsonOpt = False) -> None:
    """Add members: makes a new version."""
    _change(ref, _members(item, segment), [], notes, by, as_json)


@dataset_app.command("remove")
def remove(ref: Annotated[str, typer.Argument(help="Dataset id or slug.")], item: ItemsOpt = None,
           segment: SegOpt = None, notes: Annotated[str | None, typer.Option()] = None,
           by: Annotated[str | None, typer.Option()] = None, as_json: JsonOpt = False) -> None:
    """Remove members (an item id removes all its segments too): makes a new version."""
    _change(ref, [], _members(item, segment), notes, by, as_json)


@dataset_app.command("edit")
def edit(ref: Annotated[str, typer.Argument(help="Dataset id or slug.")],
         description: Annotated[str | None, typer.Option(help="New purpose text.")] = None,
         notes: Annotated[str | None, typer.Option(help="New curation notes.")] = None,
         by: Annotated[str | None, typer.Option()] = None, as_json: JsonOpt = False) -> None:
    """Edit the purpose and/or curation notes: makes a new version with the same members."""
    changes = {k: v for k, v in (("description", description), ("notes", notes)) if v is not None}
    try:
        st = _store()
        v = st.edit(_ref(st, ref), changes, by)
    except TesseraError as exc:
        _fail(exc)
        return
    res = {"version": v.version, "members": v.member_count, "changed": sorted(changes)}
    out.print_json(json.dumps(res)) if as_json else out.print(f"version {v.version}: {', '.join(sorted(changes))} "
                                                              "edited")


@dataset_app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """Every dataset with its newest version."""
    st = _store()
    rows, _total = st.list_datasets(10_000, 0)
    res = [{"id": d.id, "slug": d.slug, "name": d.name,
            "version": d.versions[-1].version if d.versions else None,
            "members": d.versions[-1].member_count if d.versions else 0} for d in rows]
    if as_json:
        out.print_json(json.dumps(res))
        return
    for r in res:
        out.print(f"{r['id']:>4}  {r['slug']}  v{r['version']}  {r['members']} members  {r['name']}")


def export_cmd(
    dataset: Annotated[str, typer.Argument(help="Dataset id or slug.")],
    out_path: Annotated[Path, typer.Option("--out", help="A new folder, or a file ending in .zip.")],
    version: Annotated[int | None, typer.Option("--version", help="Version (default: newest).")] = None,
    with_audio: Annotated[bool, typer.Option("--with-audio", help="Bundle audio where each licence allows.")] = False,
    run: Annotated[int | None, typer.Option("--run", help="Clustering run of the cluster column (default: the "
                                            "run of the source cluster, else the newest).")] = None,
    public_url: Annotated[str | None, typer.Option(
        "--public-url", help="This server's public base URL for the export's links (default: TESSERA_PUBLIC_URL); "
        "local files are linked to its /api/items/<id>/audio.")] = None,
    file_urls: Annotated[bool, typer.Option(
        "--file-urls", help="For this machine only: link local files as file:// URLs with their paths.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Export a dataset version: manifest, attribution, datasheet, Croissant, AudioFolder, fetch script.

    Crawled files keep their source's download URL. Local files (added folders, archive members) are
    linked to this server's audio under its public URL; without one they have no download URL (the
    export says so) unless --file-urls links them for this machine.
    """
    from tessera.datasets.export import export
    from tessera.datasets.export_links import Links

    try:
        svc = services()
        links = Links(public_url if public_url is not None else svc.settings.public_url, file_urls)
        st = _store()
        rep = export(st.export_bundle(_ref(st, dataset), version, run), out_path, with_audio=with_audio, links=links)
    except TesseraError as exc:
        _fail(exc)
        return
    res = {"path": str(rep.path), "members": rep.members, "withdrawn": rep.withdrawn, "bundled": rep.bundled,
           "left_out": rep.left_out, "unlinked": rep.unlinked, "public_url": links.public_url,
           "not_bundled": [{"id": i, "reason": r} for i, r in rep.not_bundled],
           "licence": rep.licence.summary if rep.licence else None}
    warnings = rep.licence.warnings if rep.licence else []
    if rep.unlinked:
        warnings = [*warnings, f"{rep.unlinked} local file(s) have no download URL: no public URL is set "
                    "(TESSERA_PUBLIC_URL or --public-url); --file-urls links them for this machine only"]
    if as_json:
        out.print_json(json.dumps({**res, "warnings": warnings}))
        return
    gone = ", ".join(f"{n} {k}" for k, n in sorted(rep.left_out.items())) or "none left out"
    out.print(f"exported {rep.members} members to {rep.path} ({gone}; {rep.bundled} bundled)")
    out.print(f"licences: {res['licence']}")
    for w in warnings:
        out.print(f"  [yellow]warning[/yellow] {w}")
    for i, r in rep.not_bundled:
        out.print(f"  not bundled: item {i}: {r}")


def register(app: typer.Typer) -> None:
    app.command("export")(export_cmd)
    app.add_typer(dataset_app, name="dataset")
