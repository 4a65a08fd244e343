"""``certmgr init``: create the home and the repository."""

from __future__ import annotations

from certmgr.cli.app import app
from certmgr.cli.common import Globals, command


@command(app, "init")
def init(g: Globals) -> None:
    """Create certmgr's home, master key and repository (every command does on first use)."""
    repo = g.repository()
    info = {"home": str(g.home), "db": repo.url_for_display()}
    if g.json:
        g.emit_json(info)
    else:
        g.out.print(f"certmgr home: {info['home']}\nrepository: {info['db']}")
