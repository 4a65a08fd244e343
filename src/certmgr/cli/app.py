"""The ``certmgr`` command and the registry of its command modules.

Each command module defines its commands with :func:`certmgr.cli.common.command`
on this ``app`` (or on a sub-app it adds here). Adding a command group is one
import line below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from certmgr import __version__
from certmgr.cli.common import Globals, globals_from, run_guarded

__all__ = ["app", "main"]

app = typer.Typer(
    name="certmgr",
    help="Server certificate manager: discover, issue, deploy, verify and monitor the TLS "
         "certificates of slapd, Apache, vsftpd, Postfix, Dovecot, Tomcat, nginx and haproxy.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"certmgr {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    db: Annotated[str | None, typer.Option("--db", envvar="CERTMGR_DB",
                                           help="Repository URL.")] = None,
    home: Annotated[Path | None, typer.Option("--home", envvar="CERTMGR_HOME",
                                              help="certmgr's data directory.")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Machine output on stdout.")] = False,
    root: Annotated[Path | None, typer.Option("--root", metavar="DIR",
                                              help="Filesystem root of the local host.")] = None,
    verbose: Annotated[int, typer.Option("-v", "--verbose", count=True)] = 0,
    quiet: Annotated[bool, typer.Option("-q", "--quiet")] = False,
    debug: Annotated[bool, typer.Option("--debug")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Options given before the subcommand apply to it (they may also follow it)."""
    values = {"db": db, "home": home, "json_": json_, "root": root, "verbose": verbose,
              "quiet": quiet, "debug": debug}
    run_guarded(lambda: globals_from(None, values), lambda g: _keep(ctx, g))


def _keep(ctx: typer.Context, g: Globals) -> None:
    # run_guarded closes g at the end; a fresh copy keeps the options for the subcommand.
    ctx.obj = Globals(db=g.db, home=g.home, json=g.json, root=g.root, verbose=g.verbose,
                      quiet=g.quiet, debug=g.debug)


# Command modules register themselves on import: one entry per module, in help order.
COMMAND_MODULES = [
    "certmgr.cli.discover_commands",
    "certmgr.cli.repo_commands",
    "certmgr.cli.definition_commands",
    "certmgr.cli.pki_commands",
    "certmgr.cli.ca_commands",
    "certmgr.cli.scan_commands",
    "certmgr.cli.monitor_commands",
    "certmgr.cli.lab_commands",
    "certmgr.cli.host_commands",
    "certmgr.cli.deploy_commands",
    "certmgr.cli.status_commands",
    "certmgr.cli.demo_commands",
]


def _register() -> None:
    import importlib

    for module in COMMAND_MODULES:
        importlib.import_module(module)


def main() -> None:
    _register()
    app()
