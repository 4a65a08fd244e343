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



def program_titles(*, lab_default: bool = False) -> str:
    """The registered programs as help names them (``slapd, Apache, ...``).

    ``lab_default``: only those a lab runs unless told otherwise.
    """
    from certmgr.programs import PROGRAMS

    titles = [s.title for s in PROGRAMS
              if not lab_default or ((lab := s.lab) is not None and lab.default)]
    return ", ".join(titles[:-1]) + " and " + titles[-1] if len(titles) > 1 else "".join(titles)


def _root_help() -> str:
    return ("Server certificate manager: discover, issue, deploy, verify and monitor the TLS "
            f"certificates of {program_titles()}.")


# The root help names the registered programs, which costs importing all of them: it is
# set by _register() only for a command line that can show it (no command named, or an
# unknown one), so `certmgr scan ...` never loads the programs it does not use.
app = typer.Typer(
    name="certmgr",
    help=None,
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
    db: Annotated[str | None, typer.Option("--db", envvar="CERTMGR_DB", metavar="URL",
                                           help="Repository URL.")] = None,
    home: Annotated[Path | None, typer.Option("--home", envvar="CERTMGR_HOME", metavar="DIR",
                                              help="certmgr's data directory.")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Machine output on stdout.")] = False,
    root: Annotated[Path | None, typer.Option("--root", metavar="DIR",
                                              help="Filesystem root of the local host.")] = None,
    verbose: Annotated[int, typer.Option("-v", "--verbose", count=True, metavar="",
                                         show_default=False)] = 0,
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
    "certmgr.cli.issuer_commands",
    "certmgr.cli.scan_commands",
    "certmgr.cli.monitor_commands",
    "certmgr.cli.lab_commands",
    "certmgr.cli.host_commands",
    "certmgr.cli.deploy_commands",
    "certmgr.cli.status_commands",
    "certmgr.cli.demo_commands",
    "certmgr.cli.user_commands",
    "certmgr.cli.web_commands",
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
    "issuer": "certmgr.cli.issuer_commands",
    "revoke": "certmgr.cli.issuer_commands",
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
    "user": "certmgr.cli.user_commands",
    "token": "certmgr.cli.user_commands",
    "web": "certmgr.cli.web_commands",
}

# What `certmgr` and `certmgr --help` list for each command: the first paragraph of its
# help, in help order (commands, then groups). A command line that names no command
# registers these instead of importing every command module (about 1 s of imports for a
# help screen). tests/test_cli_common.py checks that the listing is the same as the one
# the modules give; with a command missing here, every module is imported as before.
COMMAND_SUMMARIES = {
    "discover": (
        "Read each server program's configuration: its services, TLS slots, "
        "files, endpoints."),
    "check": "Run every check on every slot: files, keys, permissions, AppArmor, certificates.",
    "layout": "Plan the seed's per-program layout for a service on the shared snakeoil files.",
    "init": "Create certmgr's home, master key and repository (every command does on first use).",
    "backup": "Write a consistent snapshot of the whole repository to FILE (keys stay encrypted).",
    "restore": "Restore a backup into an empty repository (a new --home or an empty --db).",
    "audit": "List audit events: who did what, when, and why (key reads included).",
    "define": "Define a certificate: its names, key, lifetime, issuer and where it goes.",
    "apply": "Create or update definitions from a TOML file; running it again changes nothing.",
    "issue": "Make a key and CSR for each definition, get it signed by its issuer, store it.",
    "request": "Make a key and CSR for an outside CA; the request stays pending until `receive`.",
    "receive": "Store a certificate from an outside CA under the pending request whose key it has.",
    "import": "Take an existing certificate under management: a definition and its first version.",
    "export": "Write the current certificate in a server program's format; keys are 0600.",
    "list": "Certificates: name, domains, issuer, not-after, days left, status, where deployed.",
    "revoke": "Revoke a definition's current certificate at its ACME CA, and mark it revoked.",
    "scan": "Probe endpoints over TLS or STARTTLS, and check the certificates they serve.",
    "monitor": "Probe every endpoint in the repository, renew what is due, notify, export metrics.",
    "deploy": (
        "Install each certificate where its programs read it, reload them, "
        "prove it is served."),
    "rollback": (
        "Go back on purpose to the certificate of an earlier deployment, as a "
        "new deployment."),
    "deployments": (
        "The history of deployments: which certificate version went where, "
        "when, and how."),
    "status": (
        "Overall status: certificates, expiry, deployments per slot, last probe "
        "per endpoint."),
    "demo": (
        "Run the seed's whole evaluation on a lab host: lab, discover, check, "
        "CA and\ndefinitions, issue, deploy with verification, scan of every "
        "port, status."),
    "web": "Serve the web console and its REST API over HTTPS (default: loopback).",
    "definitions": "List, show, edit and delete certificate definitions.",
    "ca": "The built-in private CA: a root and an intermediate that issues.",
    "issuer": "ACME issuers: the CA's directory, the account, profiles, ARI.",
    "notify": "Notification channels (email, webhooks) of the monitor.",
    # {programs}: filled in by _register_summaries (see _root_help for why not here).
    "lab": "A lab of test hosts running {programs} for real (needs root).",
    "host": "Hosts certmgr deploys to and discovers on.",
    "user": "Users of the web console and the API.",
    "token": "API bearer tokens (shown once, stored hashed).",
}
# sub-apps, not commands
COMMAND_GROUPS = {"definitions", "ca", "issuer", "notify", "lab", "host", "user", "token"}

# Options of the root command that take a value (their value is not a command name).
_VALUED_ROOT_OPTIONS = {"--db", "--home", "--root"}


def _register(argv: Sequence[str] | None = None) -> None:
    """Import the command modules: only the one ``argv`` names, or all of them; for a
    command line that names no command (help, version), only their summaries."""
    import importlib

    word = _command_word(argv) if argv is not None else None
    if word not in COMMAND_INDEX:
        app.info.help = _root_help()
    if argv is not None and word is None and COMMAND_SUMMARIES.keys() == COMMAND_INDEX.keys():
        _register_summaries()
        return
    modules = [COMMAND_INDEX[word]] if word in COMMAND_INDEX else COMMAND_MODULES
    for module in modules:
        importlib.import_module(module)


def _register_summaries() -> None:
    for name, summary in COMMAND_SUMMARIES.items():
        text = (summary.format(programs=program_titles(lab_default=True))
                if "{programs}" in summary else summary)
        if name in COMMAND_GROUPS:
            app.add_typer(typer.Typer(help=text), name=name)
        else:
            app.command(name, help=text)(_not_loaded)


def _not_loaded() -> None:
    # Registered only when the command line names no command, so never invoked.
    raise RuntimeError("a command was run without its module; this is a bug in certmgr")


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
