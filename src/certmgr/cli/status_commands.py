"""``certmgr status``: the one-screen overview of every certificate, problems first."""

from __future__ import annotations

from certmgr.app.status import StatusReport, build_status
from certmgr.cli.app import app
from certmgr.cli.common import Globals, command
from certmgr.issuers.schedule import RenewalState
from certmgr.models import Severity

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "dim"}


@command(app, "status")
def status(g: Globals) -> int:
    """Overall status: certificates, expiry, deployments per slot, last probe per endpoint.

    Exits 1 when there is an error-severity problem (expired, failed deploy, failed probe).
    """
    report = build_status(g.repository())
    if g.json:
        g.emit_json(report.to_json())
    else:
        _print(g, report)
    return 1 if report.has_errors else 0


def _print(g: Globals, report: StatusReport) -> None:
    # Imported here: `status --json` never loads rich.
    from rich.table import Table

    out = g.out
    if report.problems:
        problems = Table(title="Problems", title_justify="left", expand=False)
        for column in ("severity", "code", "object", "message"):
            problems.add_column(column)
        for p in report.problems:
            problems.add_row(f"[{_STYLE[p.severity]}]{p.severity.value}[/]", p.code, p.subject,
                             p.message)
        out.print(problems)
    else:
        out.print("[green]No problems.[/green]")
    certs = Table(title="Certificates", title_justify="left")
    for column in ("name", "domains", "ver", "not after", "days left", "deployed to"):
        certs.add_column(column, no_wrap=column in ("name", "not after"))
    for c in report.certificates:
        cur = c.current
        days = "" if c.days_left is None else str(c.days_left)
        if c.state is RenewalState.EXPIRED:
            days = f"[bold red]{days}[/]"
        elif c.state is RenewalState.RENEW:
            days = f"[yellow]{days}[/]"
        targets = "\n".join(f"{t.target}: {t.state}"
                            + (f" (v{t.deployed_version})" if t.deployed_version else "")
                            for t in c.targets) or "-"
        certs.add_row(c.definition.name, ", ".join(c.definition.sans or (c.definition.cn,)),
                      str(cur.version) if cur else "-",
                      f"{cur.not_after:%Y-%m-%d %H:%M}" if cur else "not issued", days, targets)
    out.print(certs)
    if report.observations:
        ends = Table(title="Endpoints (last probe)", title_justify="left")
        for column in ("host", "endpoint", "tls", "probed", "result", "leaf sha256"):
            ends.add_column(column)
        for o in report.observations:
            result = "[green]ok[/]" if o.ok else f"[red]{o.error}[/]"
            ends.add_row(o.host or "-", f"{o.address}:{o.port}", o.tls,
                         f"{o.time:%Y-%m-%d %H:%M:%S}", result, (o.leaf_sha256 or "")[:16])
        out.print(ends)
