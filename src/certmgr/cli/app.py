"""The ``certmgr`` command and the registry of its command modules.

Each command module defines its commands with :func:`certmgr.cli.common.command`
on this ``app`` (or on a sub-app it adds here). Adding a command group is one
import line below.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
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

# Which module defines each command or command group. A command line that names one
# imports only that module: every module costs start-up time (SQLAlchemy, asyncssh...)
# that a single command should not pay for all the others. A test keeps this complete.
COMMAND_INDEX = {
    "discover": "certmgr.cli.discover_commands",
    "check": "certmgr.cli.discover_commands",
    "layout": "certmgr.cli.discover_commands",
    "init": "certmgr.cli.repo_commands",
    "backup": "certmgr.cli.repo_commands",
    "restore": "certmgr.cli.repo_commands",
    "audit": "certmgr.cli.repo_commands",
    "define": "certmgr.cli.definition_commands",
    "apply": "certmgr.cli.definition_commands",
    "definitions": "certmgr.cli.definition_commands",
    "issue": "certmgr.cli.pki_commands",
    "request": "certmgr.cli.pki_commands",
    "receive": "certmgr.cli.pki_commands",
    "import": "certmgr.cli.pki_commands",
    "export": "certmgr.cli.pki_commands",
    "list": "certmgr.cli.pki_commands",
    "ca": "certmgr.cli.ca_commands",
    "scan": "certmgr.cli.scan_commands",
    "monitor": "certmgr.cli.monitor_commands",
    "notify": "certmgr.cli.monitor_commands",
    "lab": "certmgr.cli.lab_commands",
    "host": "certmgr.cli.host_commands",
    "deploy": "certmgr.cli.deploy_commands",
    "rollback": "certmgr.cli.deploy_commands",
    "deployments": "certmgr.cli.deploy_commands",
    "status": "certmgr.cli.status_commands",
    "demo": "certmgr.cli.demo_commands",
}

# Options of the root command that take a value (their value is not a command name).
_VALUED_ROOT_OPTIONS = {"--db", "--home", "--root"}


def _register(argv: Sequence[str] | None = None) -> None:
    """Import the command modules: only the one ``argv`` names, or all of them."""
    import importlib

    word = _command_word(argv) if argv is not None else None
    modules = [COMMAND_INDEX[word]] if word in COMMAND_INDEX else COMMAND_MODULES
    for module in modules:
        importlib.import_module(module)


def _command_word(argv: Sequence[str]) -> str | None:
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _VALUED_ROOT_OPTIONS:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def main() -> None:
    _register(sys.argv[1:])
    app()
