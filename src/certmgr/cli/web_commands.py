"""``certmgr web``: the web console and its REST API over HTTPS.

FastAPI and uvicorn are imported inside the command: ``certmgr --help`` and every other
command do not pay for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from certmgr.cli.app import app
from certmgr.cli.common import Globals, command


@command(app, "web")
def web(
    g: Globals,
    listen: Annotated[str, typer.Option("--listen", metavar="ADDRESS:PORT",
                                        help="Where to listen (HTTPS only).")
                      ] = "127.0.0.1:8443",
    certificate: Annotated[str | None, typer.Option(
        "--certificate", metavar="NAME",
        help="Serve this definition's current certificate (default: certmgr-web, for this "
             "host's FQDN and localhost, issued by the built-in CA and renewed like "
             "every other).")] = None,
    ldap: Annotated[Path | None, typer.Option(
        "--ldap", metavar="FILE",
        help="Let users sign in through an LDAP directory: a TOML file with an [ldap] "
             "table (see docs/web.md, \"LDAP sign-in\").")] = None,
) -> None:
    """Serve the web console and its REST API over HTTPS (default: loopback)."""
    from certmgr.app.console import console_certificate
    from certmgr.app.ldap_config import load_ldap_config
    from certmgr.web.app import create_app
    from certmgr.web.console import Console
    from certmgr.web.server import CertificateWatch, parse_listen, serve, tls_context

    where = parse_listen(listen)
    directory = load_ldap_config(ldap) if ldap is not None else None
    console = Console(g.home, g.db, g.root)
    try:
        cert = console_certificate(console, certificate)
        context = tls_context(cert)
        if not where.loopback:
            g.info(f"listening on {where.host}, not loopback: the console is reachable "
                   "from the network")
        host = f"[{where.host}]" if ":" in where.host else where.host
        g.info(f"certmgr web: https://{host}:{where.port}/ (certificate {cert.definition} "
               f"version {cert.version}{', issued now' if cert.issued else ''})")
        with CertificateWatch(lambda: console_certificate(console, certificate), context,
                              cert):
            serve(create_app(console, ldap=directory), where, context)
    finally:
        console.close()
