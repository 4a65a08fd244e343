"""``certmgr issue|request|receive|import|export|list``: obtain and hand out certificates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from certmgr.cli.app import app
from certmgr.cli.common import Globals, command
from certmgr.cli.pki_output import read_input, read_password
from certmgr.errors import UsageError
from certmgr.issuers import EXPORT_FORMATS
from certmgr.repository.records import CertificateRecord

if TYPE_CHECKING:
    from certmgr.app.results import Batch, ItemResult

# Each command imports what it needs itself (rich tables and progress bars, the issuer
# modules): `certmgr list --json` runs against a 1 s budget and needs none of them.

__all__ = ["export_command", "import_command", "issue", "list_command", "receive_command",
           "request"]

_PASSWORD = typer.Option("--password", metavar="PASSWORD",
                         help="Password of encrypted keys or keystores. Visible to every "
                              "user in ps: prefer --password-file or CERTMGR_PASSWORD.")
_PASSWORD_FILE = typer.Option("--password-file", metavar="FILE",
                              help="Read the password from the first line of FILE (mode "
                                   "0600; - reads stdin). Without either option: the "
                                   "CERTMGR_PASSWORD environment variable.")


@command(app, "issue")
def issue(
    g: Globals,
    names: Annotated[list[str] | None, typer.Argument(metavar="NAME...", show_default=False)
                     ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Issue every definition.")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="ACME: order from the issuer's staging directory, store nothing.")
                       ] = False,
) -> int:
    """Make a key and CSR for each definition, get it signed by its issuer, store it.

    With the built-in CA the certificate is stored at once; with an external
    issuer a request is left pending (see `certmgr request` and `certmgr receive`).
    Exit 1 if any definition failed (the others are still issued).
    """
    if bool(names) == all_:
        raise UsageError("give definition NAMEs or --all (not both)")
    from certmgr.app.certificates import issue as issue_many

    repo = g.repository()
    with ExitStack() as stack:
        tick: Callable[[str | None], None] = lambda _name: None  # noqa: E731

        def start(total: int) -> None:
            nonlocal tick
            if not total:
                g.info("no definitions to issue: create them with `certmgr define` or "
                       "`certmgr apply`")
            tick = stack.enter_context(_progress(g, total))

        batch = issue_many(repo, None if all_ else list(names or []), on_start=start,
                           on_item=lambda name: tick(name), dry_run=dry_run, root=g.root)
    if g.json:
        g.emit_json({"results": batch.to_json()})
    else:
        _print_outcomes(g, batch)
    return 0 if batch.ok else 1


@contextmanager
def _progress(g: Globals, total: int) -> Iterator[Callable[[str | None], None]]:
    """A transient progress bar on stderr for two or more definitions, not under -q:
    ``tick(name)`` names the definition being issued, ``tick(None)`` counts it done."""
    if g.quiet or total < 2:
        yield lambda _name: None  # and rich.progress is not even imported
        return
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("issuing"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.description}"), console=g.err, transient=True) as progress:
        task = progress.add_task("", total=total)

        def tick(name: str | None) -> None:
            if name is None:
                progress.advance(task)
            else:
                progress.update(task, description=escape(name))

        yield tick


def _outcome_line(r: ItemResult) -> str:
    if r.status == "issued":
        line = (f"issued {r.item} version {r.detail['version']} (serial {r.detail['serial']}, "
                f"not after {r.detail['not_after'][:10]})")
        if r.detail.get("explanation_url"):  # the CA explains its renewal window
            line += f"; renewal window explained at {r.detail['explanation_url']}"
        return line
    if r.status == "dry-run":
        return f"dry run {r.item}: staging issued serial {r.detail['serial']} (not stored)"
    return f"pending {r.item}: {r.reason}"


def _print_outcomes(g: Globals, batch: Batch) -> None:
    # One print for all lines, and none under -q: rich renders each call (about 1 ms),
    # as much as issuing a certificate costs.
    lines = [_outcome_line(r) for r in batch if r.ok]
    if lines and not g.quiet:
        g.out.print("\n".join(lines), highlight=False, markup=False)
    for r in batch.failed:
        g.err.print(f"failed {r.item}: {r.reason}", highlight=False, markup=False)


@command(app, "request")
def request(
    g: Globals,
    name: Annotated[str, typer.Argument(help="The definition to request a certificate for.")],
    csr_out: Annotated[Path, typer.Option("--csr-out", metavar="FILE",
                                          help="Where to write the CSR (PEM).")],
) -> None:
    """Make a key and CSR for an outside CA; the request stays pending until `receive`."""
    from certmgr.app.certificates import request as make_request

    result = make_request(g.repository(), name, csr_out)
    if g.json:
        g.emit_json(result.to_json())
    else:
        g.out.print(f"request {result.request} for {name}: CSR written to {csr_out}; send it "
                    "to your CA, then run `certmgr receive FILE`", highlight=False)


@command(app, "receive")
def receive_command(
    g: Globals,
    file: Annotated[Path, typer.Argument(help="The certificate the CA returned (any format).")],
    password: Annotated[str | None, _PASSWORD] = None,
    password_file: Annotated[Path | None, _PASSWORD_FILE] = None,
) -> None:
    """Store a certificate from an outside CA under the pending request whose key it has."""
    from certmgr.app.certificates import receive

    data = read_input(file)
    record = receive(g.repository(), data, source=str(file),
                     password=read_password(password, password_file))
    _print_stored(g, record, "received")


def _print_stored(g: Globals, record: CertificateRecord, verb: str) -> None:
    from certmgr.app.certificates import certificate_row

    if g.json:
        g.emit_json(certificate_row(record, None, dt.datetime.now(dt.UTC)).to_json())
    else:
        g.out.print(f"{verb} {record.definition} version {record.version} (serial "
                    f"{record.serial}, not after {record.not_after:%Y-%m-%d})", highlight=False)


@command(app, "import")
def import_command(
    g: Globals,
    files: Annotated[list[Path], typer.Argument(
        metavar="FILE...", help="Certificate, chain or keystore files (any format).")],
    key: Annotated[Path | None, typer.Option("--key", metavar="FILE",
                                             help="The private key, if in its own file.")
                   ] = None,
    password: Annotated[str | None, _PASSWORD] = None,
    password_file: Annotated[Path | None, _PASSWORD_FILE] = None,
    name: Annotated[str | None, typer.Option(
        "--name", metavar="NAME",
        help="The new definition's name (default: the certificate's CN).")] = None,
) -> None:
    """Take an existing certificate under management: a definition and its first version."""
    inputs = [(read_input(f), str(f)) for f in files]
    key_input = (read_input(key, secret=True), str(key)) if key is not None else None
    from certmgr.app.certificates import certificate_row, import_files

    definition, record = import_files(
        g.repository(), inputs, key_file=key_input,
        password=read_password(password, password_file), name=name)
    if g.json:
        g.emit_json(certificate_row(record, definition, dt.datetime.now(dt.UTC)).to_json())
    else:
        g.out.print(f"imported {definition.name} ({', '.join((definition.cn, *definition.sans))}"
                    f"), not after {record.not_after:%Y-%m-%d}"
                    f"{'' if record.key_ref else ' - no private key'}", highlight=False)


@command(app, "export")
def export_command(
    g: Globals,
    name: Annotated[str, typer.Argument(help="The definition whose certificate to export.")],
    fmt: Annotated[str, typer.Option("--format", metavar="FORMAT",
                                     help=f"One of {', '.join(EXPORT_FORMATS)}.")
                   ] = "pem",
    out: Annotated[Path, typer.Option("--out", metavar="DIR",
                                      help="Directory to write to (created 0700 if absent).")
                   ] = Path(),
    password: Annotated[str | None, _PASSWORD] = None,
    password_file: Annotated[Path | None, _PASSWORD_FILE] = None,
    alias: Annotated[str | None, typer.Option("--alias", metavar="ALIAS",
                                              help="Keystore alias (default NAME).")
                     ] = None,
) -> None:
    """Write the current certificate in a server program's format; keys are 0600."""
    from certmgr.app.certificates import export

    result = export(g.repository(), name, fmt, out,
                    password=read_password(password, password_file), alias=alias)
    if g.json:
        g.emit_json(result.to_json())
    else:
        for path, mode in result.files:
            g.out.print(f"wrote {path} ({mode:04o})", highlight=False)


@command(app, "list")
def list_command(
    g: Globals,
    expiring: Annotated[str | None, typer.Option(
        "--expiring", metavar="DURATION",
        help="Only certificates expiring within DURATION (30d), expired ones included.")
    ] = None,
) -> None:
    """Certificates: name, domains, issuer, not-after, days left, status, where deployed."""
    from certmgr.app.certificates import list_certificates
    from certmgr.issuers import parse_duration

    window = parse_duration(expiring, "--expiring") if expiring else None
    rows = [r.to_json() for r in list_certificates(g.repository(),
                                                    expiring_within=window)]
    if g.json:
        g.emit_json({"certificates": rows})
    else:
        _print_list(g, rows)


def _print_list(g: Globals, rows: list[dict[str, Any]]) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table()
    fixed = {"not after": 10, "days": 4, "status": 7}
    for column in ("name", "domains", "issuer", "not after", "days", "status", "deployed to"):
        # fold, not ellipsize: a cut host name is a wrong host name
        table.add_column(column, justify="right" if column == "days" else "left",
                         overflow="fold", no_wrap=column in fixed,
                         min_width=fixed.get(column))
    styles = {"expired": "red", "revoked": "red", "renew": "yellow", "none": "dim",
              "pending": "cyan"}
    for r in rows:
        status = r["status"]
        table.add_row(escape(r["name"]), escape("\n".join(r["domains"])),
                      escape(r["issuer"] or "-"), (r["not_after"] or "-")[:10],
                      "-" if r["days_left"] is None else str(r["days_left"]),
                      f"[{styles[status]}]{status}[/]" if status in styles else status,
                      escape("\n".join(r["targets"]) or "-"))
    g.out.print(table)
