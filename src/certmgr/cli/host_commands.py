"""``certmgr host add|list|remove``: the hosts certmgr reaches (lab hosts come from ``lab up``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from certmgr.cli.app import app
from certmgr.cli.common import Globals, command
from certmgr.errors import NotFound, UsageError

host_app = typer.Typer(help="Hosts certmgr deploys to and discovers on.", no_args_is_help=True)
app.add_typer(host_app, name="host")


@command(host_app, "add")
def add(
    g: Globals,
    url: Annotated[str, typer.Argument(help="ssh://\\[user@]host\\[:port]")],
    key: Annotated[Path, typer.Option("--key", metavar="FILE",
                                      help="The private key to log in with.",
                                      exists=True, dir_okay=False, resolve_path=True)],
    known_hosts: Annotated[Path | None, typer.Option(
        "--known-hosts", help="known_hosts file holding the server's key (default: "
                              "~/.ssh/known_hosts).", exists=True, dir_okay=False,
        resolve_path=True)] = None,
    check: Annotated[bool, typer.Option(
        "--check/--no-check", help="Connect once (host key verified) before saving.")] = True,
) -> None:
    """Register an SSH host: files over SFTP, commands over exec, its host key verified."""
    from certmgr.app.hosts import add_ssh_host

    known = known_hosts or Path("~/.ssh/known_hosts").expanduser()
    record = add_ssh_host(g, url, key=key, known_hosts=known, check=check)
    name = record.name
    if g.json:
        g.emit_json(record.to_json())
    else:
        g.out.print(f"added {escape(name)}" + (" (connection checked)" if check else ""))


@command(host_app, "list")
def list_(g: Globals) -> None:
    """The registered hosts."""
    records = g.repository().list_hosts()
    if g.json:
        g.emit_json({"hosts": [r.to_json() for r in records]})
        return
    table = Table("name", "kind", "address", box=None, header_style="bold")
    for r in records:
        table.add_row(escape(r.name), r.kind.value, escape(r.address or ""))
    g.out.print(table if records else "no hosts registered (local is always there)")


@command(host_app, "remove")
def remove(g: Globals, name: Annotated[str, typer.Argument(help="The host's name.")]) -> None:
    """Forget a host and what discovery found on it (nothing on the host changes)."""
    try:
        g.repository().delete_host(name)
    except NotFound:
        raise UsageError(f"no host {name} is registered; see certmgr host list") from None
    if g.json:
        g.emit_json({"removed": name})
    else:
        g.out.print(f"removed {escape(name)}")
