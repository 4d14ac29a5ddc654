"""The `tessera` command line: one module per command group over the services of ``tessera.compose``.

Settings are read once per process (``cli.common.services``), and every command that touches the
catalogue sweeps lapsed consent through the consent service before it does anything else.
"""

from __future__ import annotations

import logging

import typer

app = typer.Typer(no_args_is_help=True, help="Tessera: find, name and carve out small, openly licensed "
                  "sound datasets by how they sound.")


@app.callback()
def _invocation() -> None:
    """Each invocation builds its own services (settings read once per invocation, not per command step)."""
    from tessera.cli.common import reset

    reset()


def _register() -> None:
    from tessera.cli import accounts, catalog, consent, crawl, datasets, search, taxonomy

    for group in (catalog, accounts, consent, crawl, taxonomy, datasets, search):
        group.register(app)


_register()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
