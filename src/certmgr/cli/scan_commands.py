"""``certmgr scan``: probe TLS and STARTTLS endpoints and check what they serve."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from certmgr import redact
from certmgr.cli.app import app
from certmgr.cli.common import Globals, command, json_default
from certmgr.errors import UsageError
from certmgr.inputs import CONCURRENCY, SCAN_THREADS, TIMEOUT, WARN_DAYS
from certmgr.models import Severity
from certmgr.monitor.scan import ScanPolicy, ScanResult
from certmgr.probe.prober import ProbeOptions
from certmgr.probe.result import ProbeResult, Reason
from certmgr.probe.targets import TargetSpec, parse_targets, read_target_file

if TYPE_CHECKING:
    from certmgr.app.results import Batch

__all__ = ["scan_command"]

# rich is imported where a table, a progress bar or markup is printed: `scan --json -q`,
# what scripts and the monitor's users run, never loads it.

_QUIET_REASONS = (Reason.CONNECTION_REFUSED, Reason.TIMEOUT, Reason.UNREACHABLE)
# Help text is rich markup: a literal "[" is written "\\[" ("[/PROTO]" is a closing tag).
_TARGET_HELP = ("HOST:PORT\\[/PROTO] (PROTO: tls, smtp, pop3, imap, ftp, ldap), or a CIDR block "
                "and port list for discovery: 198.18.0.0/30:443,8443-8445.")


@command(app, "scan")
def scan_command(
    g: Globals,
    targets: Annotated[list[str] | None, typer.Argument(
        metavar="TARGET...", help=_TARGET_HELP, show_default=False)] = None,
    from_file: Annotated[Path | None, typer.Option(
        "--from", metavar="FILE", help="Read targets from FILE, one per line ('-': stdin).")
    ] = None,
    sni: Annotated[str | None, typer.Option(
        "--sni", help="Server name to send (default: the target's host name, none for an IP).")
    ] = None,
    timeout: Annotated[float, typer.Option(
        "--timeout", min=TIMEOUT.low, max=TIMEOUT.high,
        help="Seconds allowed for each step of a probe.")] = 5.0,
    concurrency: Annotated[int, typer.Option(
        "--concurrency", min=CONCURRENCY.low, max=CONCURRENCY.high,
        help="Most probes in flight at once.")] = 256,
    threads: Annotated[int, typer.Option(
        "--threads", min=SCAN_THREADS.low, max=SCAN_THREADS.high,
        help="Event loops in threads for big scans (0: one per CPU, up to 4).")] = 0,
    warn_days: Annotated[int, typer.Option(
        "--warn-days", min=WARN_DAYS.low, max=WARN_DAYS.high,
        help="EXPIRING_SOON when a certificate expires within N days.")
    ] = 30,
    ca: Annotated[list[Path] | None, typer.Option(
        "--ca", metavar="FILE", help="Also trust the CA certificates in FILE (repeatable).")
    ] = None,
    system_trust: Annotated[bool, typer.Option(
        "--system-trust/--no-system-trust", help="Trust the system's CA store.")] = True,
    save_chains: Annotated[Path | None, typer.Option(
        "--save-chains", metavar="DIR",
        help="Write each distinct served chain to DIR as PEM, ready for `certmgr import`.")
    ] = None,
    take: Annotated[bool, typer.Option(
        "--import", help="Take every unmanaged certificate found under management (its key "
                         "stays on the server: import one with `certmgr import --key`).")
    ] = False,
) -> int:
    """Probe endpoints over TLS or STARTTLS, and check the certificates they serve.

    Every target is probed (connect, STARTTLS if needed, handshake) and what it
    served is checked like `certmgr check` checks files: expiry, chain to the
    trusted roots, names, weak keys and signatures; plus DRIFT against what
    certmgr deployed. Exit 1 when a probe failed or a finding is an error.
    """
    from certmgr.app.scan import import_found, scan_policy
    from certmgr.app.scan import save_chains as save

    specs = _specs(targets or [], from_file, sni)
    total = sum(spec.count() for spec in specs)
    repo = g.existing_repository()  # a scan never creates one
    policy = scan_policy(repo, ca_files=ca or (), system_trust=system_trust,
                         warn_days=warn_days)
    options = ProbeOptions(timeout=timeout, concurrency=concurrency)
    g.debug_log(f"scanning {total} endpoint(s), {concurrency} at a time")
    results = _run(g, specs, total, options, policy, threads or None)
    if save_chains is not None:
        written = save(save_chains, results)
        g.info(f"wrote {len(written)} served chain(s) to {save_chains}; take one under "
               f"management with `certmgr import {save_chains}/FILE.pem --key KEYFILE`")
    imported = import_found(g.repository(), results) if take else None
    if g.json:
        _emit_results(results, imported)
    else:
        from rich.markup import escape

        _print(g, results, discovery=any(spec.count() > 1 for spec in specs))
        for item in imported or ():
            g.out.print(f"{item.status} {escape(item.item)}: "
                        f"{escape(item.detail.get('definition') or item.reason)}",
                        highlight=False)
    return 1 if any(r.failed for r in results) else 0


def _specs(words: list[str], from_file: Path | None, sni: str | None) -> list[TargetSpec]:
    if from_file is not None:
        words = [*words, *(_stdin_targets() if str(from_file) == "-"
                           else read_target_file(from_file))]
    if not words:
        raise UsageError("no target: give HOST:PORT[/PROTO] arguments or --from FILE")
    return parse_targets(words, sni=sni)


def _stdin_targets() -> list[str]:
    return [w for line in sys.stdin for w in line.split("#", 1)[0].split()]




def _run(g: Globals, specs: list[TargetSpec], total: int, options: ProbeOptions,
         policy: ScanPolicy, threads: int | None) -> list[ScanResult]:
    from certmgr.app.scan import scan

    if g.quiet or not g.err.is_terminal or total < 2:
        return scan(specs, policy, options, threads=threads)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=g.err, transient=True) as progress:
        task = progress.add_task("scan", total=total)

        def advance(_result: ProbeResult) -> None:
            progress.advance(task)

        return scan(specs, policy, options, on_probe=advance, threads=threads)


def _emit_results(results: list[ScanResult], imported: Batch | None) -> None:
    """The ``--json`` document, one result per line, written as it is encoded.

    A scan of a large block has tens of thousands of results: encoding them
    one at a time (with the C encoder) keeps memory flat and time short.
    """
    write = sys.stdout.write
    write('{"results": [')
    for i, result in enumerate(results):
        write(("\n  " if i == 0 else ",\n  ")
              + redact.json_text(json.dumps(result.to_json(), default=json_default)))
    write("\n]")
    if imported is not None:
        write(',\n"imported": '
              + redact.json_text(json.dumps(imported.to_json(), default=json_default)))
    write("}\n")
    sys.stdout.flush()


def _status(result: ScanResult) -> str:
    if not result.probe.ok:
        return f"[red]{result.probe.reason.value if result.probe.reason else 'FAILED'}[/red]"
    if any(f.severity is Severity.ERROR for f in result.findings):
        return "[red]problems[/red]"
    if result.findings:
        return "[yellow]warnings[/yellow]"
    return "[green]ok[/green]"


def _rows(results: list[ScanResult]) -> Iterator[tuple[str, ...]]:
    from rich.markup import escape

    for r in results:
        leaf = r.chain[0] if r.chain else {}
        names = ", ".join(leaf.get("sans", [])[:3]) or (leaf.get("subject") or "")
        expires = (leaf.get("not_after") or "")[:10]
        yield (escape(str(r.target)), _status(r), r.probe.tls_version or "",
               escape(names), expires, str(len(r.findings)) if r.findings else "")


def _quiet_failure(result: ScanResult) -> bool:
    """A closed port or silent address: what most of a discovery scan meets."""
    return result.probe.reason in _QUIET_REASONS


def _print(g: Globals, results: list[ScanResult], *, discovery: bool) -> None:
    # A discovery scan of a block meets mostly closed ports: list them only with -v.
    from rich.markup import escape
    from rich.table import Table

    shown = [r for r in results if g.verbose or not (discovery and _quiet_failure(r))]
    table = Table(box=None, pad_edge=False)
    for column in ("TARGET", "STATUS", "TLS", "CERTIFICATE", "EXPIRES", "FINDINGS"):
        table.add_column(column)
    for row in _rows(shown):
        table.add_row(*row)
    g.out.print(table)
    colours = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "blue"}
    for r in shown:
        for f in r.findings:
            colour = colours[f.severity]
            g.out.print(f"[{colour}]{f.severity.value:7}[/{colour}] {f.code}: "
                        f"{escape(f.message)}", highlight=False)
    failed = sum(not r.probe.ok for r in results)
    errors = sum(f.severity is Severity.ERROR for r in results for f in r.findings
                 if r.probe.ok)
    hidden = len(results) - len(shown)
    g.info(f"{len(results)} endpoint(s): {len(results) - failed} answered, {failed} failed, "
           f"{errors} error finding(s)"
           + (f"; {hidden} closed or silent not listed (-v lists them)" if hidden else ""))
