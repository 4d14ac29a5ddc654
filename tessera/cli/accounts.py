"""Commands for users, roles, keys, passwords and community membership."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tessera.accounts.store import AccountStore
from tessera.cli.common import emit, fail, out, services
from tessera.core.errors import TesseraError

USER_APP = typer.Typer(help="Users, roles and API keys (bootstrap the first admin here).", no_args_is_help=True)


def _accounts() -> AccountStore:
    return services().accounts


@USER_APP.command("add")
def user_add(name: str, role: Annotated[str, typer.Option(help="editor, moderator or admin")] = "editor",
             as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Create a user with a role."""
    try:
        uid = _accounts().add_user(name, role)
    except TesseraError as exc:
        fail(exc)
    emit({"id": uid, "name": name, "role": role}, as_json,
         f"user {name} ({role}) created; issue a key with: tessera user key {name}")


@USER_APP.command("key")
def user_key(name: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Issue an API key for a user. It is printed once; only its hash is kept."""
    try:
        key = _accounts().issue_key(name)
    except TesseraError as exc:
        fail(exc)
    if as_json:
        emit({"key": key, "name": name}, True, "")
    else:
        sys.stdout.write(key + "\n")


@USER_APP.command("role")
def user_role(name: str, role: str) -> None:
    """Change a user's role."""
    try:
        _accounts().set_role(name, role)
    except TesseraError as exc:
        fail(exc)
    out.print(f"{name} is now {role}")


@USER_APP.command("revoke")
def user_revoke(prefix: str) -> None:
    """Revoke an API key by its prefix (the 8 hex digits after tsr_)."""
    try:
        _accounts().revoke_key(prefix)
    except TesseraError as exc:
        fail(exc)
    out.print(f"key {prefix} revoked")


@USER_APP.command("password")
def user_password(
    name: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          envvar="TESSERA_NEW_PASSWORD", help="At least 10 characters.")],
) -> None:
    """Set the password a user signs in to the web app with (asked for; or $TESSERA_NEW_PASSWORD)."""
    try:
        _accounts().set_password(name, password)
    except TesseraError as exc:
        fail(exc)
    out.print(f"password set for {name}")


@USER_APP.command("communities")
def user_communities(name: str, communities: Annotated[list[str], typer.Argument(help="Community names.")]) -> None:
    """Set the communities a user belongs to: they see material their communities' protocol labels restrict."""
    try:
        _accounts().set_communities(name, communities)
    except TesseraError as exc:
        fail(exc)
    out.print(f"{name} belongs to: {', '.join(sorted(set(communities)))}")


def register(app: typer.Typer) -> None:
    app.add_typer(USER_APP, name="user")
