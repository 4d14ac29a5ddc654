"""What every command group shares: the services (built once per process) and the output helpers."""

from __future__ import annotations

import json
from typing import Any, NoReturn

import typer
from pydantic_core import to_jsonable_python
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tessera.compose import Services, build
from tessera.core.errors import TesseraError
from tessera.core.settings import Settings

out = Console()
err = Console(stderr=True)
_SERVICES: list[Services] = []


def services() -> Services:
    """The composition root for this process: settings read once, the catalogue migrated, and lapsed
    consent swept (with any purge still owed) before the command does anything else."""
    if not _SERVICES:
        try:
            svc = build(Settings())
        except TesseraError as exc:  # a setting this installation cannot use: say which, no traceback
            fail(exc)
        svc.sweep()
        _SERVICES.append(svc)
    return _SERVICES[0]


def reset() -> None:
    """Forget the services of an earlier invocation in this process (tests invoke the CLI repeatedly)."""
    while _SERVICES:
        _SERVICES.pop().close()


def fail(exc: TesseraError) -> NoReturn:
    err.print(f"[red]error:[/red] {exc.message}")
    raise typer.Exit(2)


def emit(data: Any, as_json: bool, text: str) -> None:
    """Print ``data`` as JSON (the API's field names) or ``text`` for people."""
    if as_json:
        out.print_json(json.dumps(to_jsonable_python(data, by_alias=True), default=str))
    else:
        out.print(text)


def progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err, transient=False)
