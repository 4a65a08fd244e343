"""``certmgr issue|request|receive|import|export|list``: obtain and hand out certificates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from certmgr.cli.app import app
from certmgr.cli.common import Globals, command
from certmgr.cli.pki_output import read_input, read_password, write_file
from certmgr.errors import CertmgrError, InputError, UsageError
from certmgr.issuers import EXPORT_FORMATS
from certmgr.repository.records import CertificateRecord, CertificateState, DefinitionRecord

if TYPE_CHECKING:
    from certmgr.issuers import IssueOutcome, Issuer

# Each command imports what it needs itself (rich tables and progress bars, the issuer
# modules): `certmgr list --json` runs against a 1 s budget and needs none of them.

__all__ = ["export_command", "import_command", "issue", "list_command", "receive_command",
           "request"]

_PASSWORD = typer.Option("--password", metavar="PASSWORD",
                         help="Password of encrypted keys or keystores.")
_PASSWORD_FILE = typer.Option("--password-file", metavar="FILE",
                              help="Read the password from the first line of FILE.")


@command(app, "issue")
def issue(
    g: Globals,
    names: Annotated[list[str] | None, typer.Argument(metavar="NAME...", show_default=False)
                     ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Issue every definition.")] = False,
) -> int:
    """Make a key and CSR for each definition, get it signed by its issuer, store it.

    With the built-in CA the certificate is stored at once; with an external
    issuer a request is left pending (see `certmgr request` and `certmgr receive`).
    Exit 1 if any definition failed (the others are still issued).
    """
    if bool(names) == all_:
        raise UsageError("give definition NAMEs or --all (not both)")
    repo = g.fast_repository()
    todo: list[DefinitionRecord] = (repo.list_definitions() if all_
                                    else [repo.get_definition(n) for n in names or []])
    if not todo:
        g.info("no definitions to issue: create them with `certmgr define` or `certmgr apply`")
    outcomes, failures = _issue_all(g, repo, todo)
    if g.json:
        g.emit_json({"results": [o.to_json() for o in outcomes]
                     + [{"definition": n, "status": "failed", "message": m}
                        for n, m in failures]})
    else:
        _print_outcomes(g, outcomes, failures)
    return 1 if failures else 0


def _issue_all(g: Globals, repo: Any, todo: list[DefinitionRecord]
               ) -> tuple[list[IssueOutcome], list[tuple[str, str]]]:
    from certmgr.issuers import issue_definition, load_issuer

    # Each issuer is loaded once per run: the CA's key is decrypted (one audited read)
    # and its certificates parsed once, not per certificate.
    issuers: dict[str | None, Issuer] = {}
    outcomes: list[IssueOutcome] = []
    failures: list[tuple[str, str]] = []
    with _progress(g, len(todo)) as tick:
        for definition in todo:
            tick(definition.name)
            try:
                if definition.issuer not in issuers:
                    issuers[definition.issuer] = load_issuer(repo, definition.issuer)
                outcomes.append(issue_definition(repo, definition, issuers[definition.issuer]))
            except CertmgrError as exc:  # one definition failing must not stop the others
                if len(todo) == 1:
                    raise
                failures.append((definition.name, exc.message))
            tick(None)
    return outcomes, failures


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


def _print_outcomes(g: Globals, outcomes: list[IssueOutcome],
                    failures: list[tuple[str, str]]) -> None:
    # One print for all lines, and none under -q: rich renders each call (about 1 ms),
    # as much as issuing a certificate costs.
    lines = [f"issued {o.definition} version {o.certificate.version} (serial "
             f"{o.certificate.serial}, not after {o.certificate.not_after:%Y-%m-%d})"
             if o.certificate is not None else f"pending {o.definition}: {o.message}"
             for o in outcomes]
    if lines and not g.quiet:
        g.out.print("\n".join(lines), highlight=False, markup=False)
    for name, message in failures:
        g.err.print(f"failed {name}: {message}", highlight=False, markup=False)


@command(app, "request")
def request(
    g: Globals,
    name: Annotated[str, typer.Argument(help="The definition to request a certificate for.")],
    csr_out: Annotated[Path, typer.Option("--csr-out", metavar="FILE",
                                          help="Where to write the CSR (PEM).")],
) -> None:
    """Make a key and CSR for an outside CA; the request stays pending until `receive`."""
    repo = g.repository()
    definition = repo.get_definition(name)
    if csr_out.exists() and csr_out.is_dir():
        raise InputError(f"--csr-out {csr_out}: is a directory; give a file name")
    from certmgr.issuers import request_csr

    record, pem = request_csr(repo, definition)
    write_file(csr_out, pem, secret=False)
    if g.json:
        g.emit_json({"definition": name, "request": record.id, "csr": str(csr_out)})
    else:
        g.out.print(f"request {record.id} for {name}: CSR written to {csr_out}; send it to "
                    "your CA, then run `certmgr receive FILE`", highlight=False)


@command(app, "receive")
def receive_command(
    g: Globals,
    file: Annotated[Path, typer.Argument(help="The certificate the CA returned (any format).")],
    password: Annotated[str | None, _PASSWORD] = None,
    password_file: Annotated[Path | None, _PASSWORD_FILE] = None,
) -> None:
    """Store a certificate from an outside CA under the pending request whose key it has."""
    from certmgr.issuers import receive

    data = read_input(file)
    record = receive(g.repository(), data, source=str(file),
                     password=read_password(password, password_file))
    _print_stored(g, record, "received")


def _print_stored(g: Globals, record: CertificateRecord, verb: str) -> None:
    if g.json:
        g.emit_json(_cert_json(record, None, dt.datetime.now(dt.UTC)))
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
    key_input = (read_input(key), str(key)) if key is not None else None
    from certmgr.issuers import import_certificate

    definition, record = import_certificate(
        g.repository(), inputs, key_file=key_input,
        password=read_password(password, password_file), name=name)
    if g.json:
        g.emit_json(_cert_json(record, definition, dt.datetime.now(dt.UTC)))
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
    from certmgr.issuers import export_files

    files = export_files(g.fast_repository(), name, fmt,
                         password=read_password(password, password_file), alias=alias)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: not a directory")
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot create: {exc.strerror}", path=out) from None
    written = []
    for f in files:
        write_file(out / f.name, f.data, secret=f.secret)
        written.append({"path": str(out / f.name), "mode": "0600" if f.secret else "0644"})
    if g.json:
        g.emit_json({"definition": name, "format": fmt, "files": written})
    else:
        for w in written:
            g.out.print(f"wrote {w['path']} ({w['mode']})", highlight=False)


@command(app, "list")
def list_command(
    g: Globals,
    expiring: Annotated[str | None, typer.Option(
        "--expiring", metavar="DURATION",
        help="Only certificates expiring within DURATION (30d), expired ones included.")
    ] = None,
) -> None:
    """Certificates: name, domains, issuer, not-after, days left, status, where deployed."""
    from certmgr.issuers import parse_duration

    window = parse_duration(expiring, "--expiring") if expiring else None
    repo = g.fast_repository()
    now = dt.datetime.now(dt.UTC)
    records = repo.list_certificates(expiring_within=window, now=now)
    defs = _definitions_for(repo, records, all_=window is None)
    rows = [_cert_json(r, defs.get(r.definition), now) for r in records]
    if window is None:
        have = {r.definition for r in records}
        waiting = {r.definition for r in repo.list_requests()}
        rows += [_pending_json(d, d.name in waiting) for d in defs.values()
                 if d.name not in have]
    if g.json:
        g.emit_json({"certificates": rows})
    else:
        _print_list(g, rows)


def _definitions_for(repo: Any, records: list[CertificateRecord],
                     *, all_: bool) -> dict[str, DefinitionRecord]:
    if all_:
        return {d.name: d for d in repo.list_definitions()}
    # The window holds few of 100,000 definitions: one bulk lookup, not one query each.
    defs: dict[str, DefinitionRecord] = repo.get_definitions({r.definition for r in records})
    return defs


def _status(record: CertificateRecord, definition: DefinitionRecord | None,
            now: dt.datetime) -> str:
    if record.state is CertificateState.REVOKED:
        return "revoked"
    if record.not_after <= now:
        return "expired"
    renew = definition.renew_before if definition else dt.timedelta(days=30)
    return "renew" if record.not_after - now <= renew else "valid"


def _cert_json(record: CertificateRecord, definition: DefinitionRecord | None,
               now: dt.datetime) -> dict[str, Any]:
    return {
        "name": record.definition,
        "domains": list(record.sans),
        "issuer": record.issuer,
        "version": record.version,
        "serial": record.serial,
        "sha256": record.sha256,
        "not_after": record.not_after.isoformat(),
        "days_left": (record.not_after - now) // dt.timedelta(days=1),
        "status": _status(record, definition, now),
        "targets": list(definition.targets) if definition else [],
    }


def _pending_json(d: DefinitionRecord, requested: bool) -> dict[str, Any]:
    return {"name": d.name, "domains": [d.cn, *d.sans], "issuer": d.issuer, "version": None,
            "serial": None, "sha256": None, "not_after": None, "days_left": None,
            "status": "pending" if requested else "none", "targets": list(d.targets)}


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
