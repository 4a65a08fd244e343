"""certmgr's command line: thin typer commands; all printing happens here."""

from certmgr.cli.app import app, main

__all__ = ["app", "main"]
