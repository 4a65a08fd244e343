"""``certmgr user add|list|remove|passwd`` and ``certmgr token create|list|revoke``: the
web console's and the API's users and bearer tokens."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from certmgr.app import users as uc
from certmgr.cli.app import app
from certmgr.cli.common import Globals, command
from certmgr.errors import NotFound, UsageError

user_app = typer.Typer(help="Users of the web console and the API.", no_args_is_help=True)
app.add_typer(user_app, name="user")
token_app = typer.Typer(help="API bearer tokens (shown once, stored hashed).",
                        no_args_is_help=True)
app.add_typer(token_app, name="token")

_STDIN = typer.Option("--password-stdin",
                      help="Read the password from the first line of standard input "
                           "(else a one-time password is printed, changed at first sign-in).")


def _stdin_password() -> str:
    line = sys.stdin.readline(uc.PASSWORD_MAX + 2)
    return line.rstrip("\r\n")


def _show_once(g: Globals, what: str, secret: str, data: dict[str, object]) -> None:
    if g.json:
        g.emit_json({**data, what: secret})
    else:
        sys.stdout.write(f"{what.replace('_', ' ')}: {secret}\n")
        sys.stdout.flush()


@command(user_app, "add")
def add(
    g: Globals,
    name: Annotated[str, typer.Argument(help="The user's name (lower-case letters, digits).")],
    role: Annotated[str, typer.Option("--role", metavar="admin|operator|viewer",
                                      help="What the user may do.")],
    hosts: Annotated[list[str] | None, typer.Option(
        "--hosts", metavar="PATTERN",
        help="Restrict an operator to hosts matching this glob (repeatable).")] = None,
    password_stdin: Annotated[bool, _STDIN] = False,
) -> None:
    """Add a user of the web console and the API."""
    password = _stdin_password() if password_stdin else None
    new = uc.add_user(g.repository(), name, role, hosts=hosts or (), password=password)
    if new.one_time_password is not None:
        g.info(f"added {escape(name)} ({role}); the one-time password below is changed at "
               "the first sign-in")
        _show_once(g, "one_time_password", new.one_time_password, new.user.to_json())
    elif g.json:
        g.emit_json(new.user.to_json())
    else:
        g.out.print(f"added {escape(name)} ({role})")


@command(user_app, "list")
def list_(g: Globals) -> None:
    """The users, their roles and host restrictions."""
    records = uc.list_users(g.repository())
    if g.json:
        g.emit_json({"users": [r.to_json() for r in records]})
        return
    table = Table("name", "role", "hosts", "sign-in", "state", box=None, header_style="bold")
    for r in records:
        state = "disabled" if r.disabled else ("must change password" if r.must_change else "")
        signin = ("directory" if r.origin == "ldap" else "password") + (" + TOTP" if r.totp
                                                                          else "")
        table.add_row(escape(r.name), r.role, escape(", ".join(r.hosts) or "all"), signin,
                      state)
    g.out.print(table if records else "no users (add one with `certmgr user add`)")


@command(user_app, "remove")
def remove(g: Globals, name: Annotated[str, typer.Argument(help="The user's name.")]) -> None:
    """Remove a user and its API tokens."""
    try:
        uc.remove_user(g.repository(), name)
    except NotFound:
        raise UsageError(f"no user {name} exists; see certmgr user list") from None
    if g.json:
        g.emit_json({"removed": name})
    else:
        g.out.print(f"removed {escape(name)}")


@command(user_app, "passwd")
def passwd(
    g: Globals,
    name: Annotated[str, typer.Argument(help="The user's name.")],
    password_stdin: Annotated[bool, _STDIN] = False,
) -> None:
    """Set a user's password (else a one-time password, changed at the next sign-in)."""
    password = _stdin_password() if password_stdin else None
    try:
        new = uc.set_password(g.repository(), name, password)
    except NotFound:
        raise UsageError(f"no user {name} exists; see certmgr user list") from None
    if new.one_time_password is not None:
        _show_once(g, "one_time_password", new.one_time_password, {"name": name})
    elif g.json:
        g.emit_json({"name": name, "password_changed": True})
    else:
        g.out.print(f"password of {escape(name)} changed")


@command(user_app, "totp")
def totp(
    g: Globals,
    name: Annotated[str, typer.Argument(help="The user's name.")],
    remove: Annotated[bool, typer.Option("--remove",
                                         help="Remove the user's second factor.")] = False,
) -> None:
    """Enrol a TOTP second factor: the otpauth:// URI for an authenticator app is printed
    once; from then on signing in to the console asks for the current code."""
    try:
        if remove:
            uc.remove_totp(g.repository(), name)
            g.out.print(f"second factor of {escape(name)} removed")
            return
        uri = uc.enrol_totp(g.repository(), name)
    except NotFound:
        raise UsageError(f"no user {name} exists; see certmgr user list") from None
    g.info(f"TOTP enrolled for {escape(name)}: add this URI to an authenticator app now; it is "
           "shown only once")
    _show_once(g, "otpauth_uri", uri, {"name": name})


@command(token_app, "create")
def create(
    g: Globals,
    user: Annotated[str, typer.Argument(help="The user the token acts as.")],
    expires: Annotated[str, typer.Option("--expires", metavar="DAYS",
                                         help="Lifetime, 1d to 3650d.")] = "90d",
    name: Annotated[str, typer.Option("--name", metavar="LABEL",
                                      help="A label to recognise it by.")] = "token",
) -> None:
    """Create an API bearer token for a user; it is printed once and stored hashed."""
    try:
        new = uc.create_token(g.repository(), user, expires=uc.parse_expiry(expires), name=name)
    except NotFound:
        raise UsageError(f"no user {user} exists; see certmgr user list") from None
    g.info(f"token {new.record.id} for {escape(user)} created; it is shown only now")
    _show_once(g, "token", new.token, new.record.to_json())


@command(token_app, "list")
def tokens(
    g: Globals,
    user: Annotated[str | None, typer.Argument(help="Only this user's tokens.")] = None,
) -> None:
    """The API tokens (never the tokens themselves)."""
    records = uc.list_tokens(g.repository(), user)
    if g.json:
        g.emit_json({"tokens": [r.to_json() for r in records]})
        return
    table = Table("id", "user", "name", "created", "expires", "last used", box=None,
                  header_style="bold")
    for r in records:
        table.add_row(str(r.id), escape(r.user), escape(r.name), f"{r.created:%Y-%m-%d}",
                      f"{r.expires:%Y-%m-%d}" if r.expires else "never",
                      f"{r.last_used:%Y-%m-%d %H:%M}" if r.last_used else "never")
    g.out.print(table if records else "no API tokens")


@command(token_app, "revoke")
def revoke(g: Globals,
           token_id: Annotated[int, typer.Argument(metavar="ID", min=1, max=2**31 - 1,
                                                   help="The token's id (token list).")]
           ) -> None:
    """Revoke an API token at once."""
    try:
        record = uc.revoke_token(g.repository(), token_id)
    except NotFound:
        raise UsageError(f"no API token {token_id}; see certmgr token list") from None
    if g.json:
        g.emit_json({"revoked": record.id, "user": record.user})
    else:
        g.out.print(f"revoked token {record.id} of {escape(record.user)}")
