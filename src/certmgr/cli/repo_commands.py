"""``certmgr init``, ``backup``, ``restore`` and ``audit``: the repository itself."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from certmgr.cli.app import app
from certmgr.cli.common import Globals, command
from certmgr.errors import UsageError
from certmgr.inputs import COUNT
from certmgr.repository import PASSPHRASE_ENV, open_repository
from certmgr.repository.backup import BackupSummary, restore_backup, write_backup


@command(app, "init")
def init(
    g: Globals,
    passphrase: Annotated[bool, typer.Option(
        "--passphrase",
        help="Protect private keys with a passphrase instead of a key file (asked for unless "
             "CERTMGR_PASSPHRASE is set; later commands read CERTMGR_PASSPHRASE).")] = False,
) -> None:
    """Create certmgr's home, master key and repository (every command does on first use)."""
    if passphrase:
        secret = os.environ.get(PASSPHRASE_ENV) or typer.prompt(
            "Passphrase for the repository's private keys", hide_input=True,
            confirmation_prompt=True, err=True)
        g._repository = open_repository(g.db, g.home, passphrase=secret)
    repo = g.repository()
    info: dict[str, Any] = {"home": str(g.home), "db": repo.url_for_display(),
            "master_key": repo.master_key_info()}
    if passphrase and info["master_key"]["mode"] != "passphrase":
        raise UsageError(f"the repository in {g.home} already protects its keys with "
                         f"{info['master_key']['path']}; --passphrase applies to new "
                         "repositories only")
    if g.json:
        g.emit_json(info)
        return
    g.out.print(f"certmgr home: {info['home']}\nrepository: {info['db']}", highlight=False)
    g.out.print(_key_advice(info["master_key"]), highlight=False)


@command(app, "backup")
def backup(
    g: Globals,
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write the backup to.",
                                      metavar="FILE")],
    force: Annotated[bool, typer.Option("--force", help="Replace FILE if it exists.")] = False,
) -> None:
    """Write a consistent snapshot of the whole repository to FILE (keys stay encrypted).

    The master key is not in the backup: keep it separately, you need it to restore.
    """
    summary = write_backup(g.repository(), out, overwrite=force)
    if g.json:
        g.emit_json(summary.to_json())
        return
    g.out.print(f"backup written to {summary.path} ({_rows(summary)})", highlight=False)
    g.out.print(_key_advice(summary.master_key), highlight=False)


@command(app, "restore")
def restore(
    g: Globals,
    file: Annotated[Path, typer.Argument(help="A backup written by `certmgr backup`.",
                                         metavar="FILE")],
    master_key: Annotated[Path | None, typer.Option(
        "--master-key", metavar="KEYFILE",
        help="The backup's master key file, copied into the home if none is there.")] = None,
) -> None:
    """Restore a backup into an empty repository (a new --home or an empty --db)."""
    summary = restore_backup(g.db, g.home, file, master_key_file=master_key)
    if g.json:
        g.emit_json(summary.to_json())
        return
    g.out.print(f"restored {summary.path} (made {summary.created:%Y-%m-%d %H:%M} UTC; "
                f"{_rows(summary)}) into {g.home}", highlight=False)


@command(app, "audit")
def audit(
    g: Globals,
    limit: Annotated[int, typer.Option("--limit", "-n", min=COUNT.low, max=COUNT.high,
                                       help="How many events, newest first.")] = 50,
    action: Annotated[str | None, typer.Option(
        "--action", metavar="ACTION", help="Only this action, e.g. key.read.")] = None,
    obj: Annotated[str | None, typer.Option(
        "--object", metavar="OBJECT", help="Only events about this object, e.g. key:REF.")] = None,
    actor: Annotated[str | None, typer.Option(
        "--actor", metavar="USER", help="Only events by this user (or certmgr-web...).")] = None,
    subject: Annotated[str | None, typer.Option(
        "--subject", metavar="TEXT", help="Only events whose object contains TEXT.")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="DATE", help="From this ISO date or time (UTC).")] = None,
    until: Annotated[str | None, typer.Option(
        "--until", metavar="DATE", help="Up to this ISO date (the whole day) or time.")] = None,
    result: Annotated[str | None, typer.Option(
        "--result", metavar="ok|refused", help="Only refused/failed events, or only the "
        "others.")] = None,
    offset: Annotated[int, typer.Option("--offset", min=0, max=1_000_000,
                                        help="Skip this many newer events.")] = 0,
) -> None:
    """List audit events: who did what, when, and why (key reads included)."""
    from certmgr.app.audit import audit_filter, audit_page

    where = audit_filter(action=action, actor=actor, subject=subject, since=since,
                         until=until, result=result, obj=obj)
    events = audit_page(g.repository(), where, offset=offset, limit=limit).events
    if g.json:
        g.emit_json([e.to_json() for e in events])
        return
    table = Table("time (UTC)", "actor", "action", "object", "detail")
    for e in events:
        detail = ", ".join(f"{k}={v}" for k, v in e.detail.items())
        table.add_row(f"{e.time:%Y-%m-%d %H:%M:%S}", e.actor, e.action, e.object, detail)
    g.out.print(table)


def _rows(summary: BackupSummary) -> str:
    used = {k: v for k, v in summary.rows.items() if v}
    return f"{sum(used.values())} rows in {len(used)} tables"


def _key_advice(info: dict[str, Any]) -> str:
    if info.get("mode") == "passphrase":
        return ("private keys are encrypted under your passphrase (CERTMGR_PASSPHRASE), which "
                "is in no file and no backup: without it they cannot be decrypted")
    return (f"master key: {info.get('path')} - it is NOT in the repository or any backup; "
            "keep a copy of it separately and safely: without it the stored private keys "
            "cannot be decrypted")
