"""A real console over HTTPS on loopback: a repository with the built-in CA, the
console's own certificate issued through the app layer, uvicorn in a thread, and
users of each role with API tokens. Every test module runs against SQLite and against
PostgreSQL (``CERTMGR_TEST_PG_URL``, or a throwaway cluster as the repository tests
start one: skipped locally without PostgreSQL, never in CI)."""

from __future__ import annotations

import shutil
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization

from certmgr.app import users as uc
from certmgr.app.console import console_certificate
from certmgr.app.trust import builtin_roots
from certmgr.issuers import init_builtin_ca
from certmgr.web.app import create_app
from certmgr.web.console import Console
from certmgr.web.security import Security
from certmgr.web.server import Listen, make_server, tls_context
from tests.repository.conftest import pg_admin_url

__all__ = ["pg_admin_url"]

PASSWORD = "correct horse battery staple"
TREE = Path(__file__).resolve().parents[1] / "fixtures" / "trees" / "debian12"


@dataclass
class Running:
    url: str
    console: Console
    security: Security
    cafile: Path
    tokens: dict[str, str]
    app: Any
    context: ssl.SSLContext

    def client(self, role: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"authorization": f"Bearer {self.tokens[role]}"} if role else {}
        context = ssl.create_default_context(cafile=str(self.cafile))
        return httpx.Client(base_url=self.url, verify=context, headers=headers, timeout=30,
                            **kwargs)


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def web_db(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (SQLite in the console's home) or a fresh PostgreSQL database's URL."""
    if request.param == "sqlite":
        yield None
        return
    admin = str(request.getfixturevalue("pg_admin_url"))
    name = f"certmgr_web_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # name is ours: hex only
    try:
        yield f"{admin.split('?', 1)[0].rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, web_db: str | None) -> Iterator[Running]:
    base = tmp_path_factory.mktemp("web")
    home = base / "home"
    # "local" is a copy of the Debian 12 configuration tree (discovery reads it, a dry
    # run plans on it), never this machine's /
    root = base / "root"
    shutil.copytree(TREE, root, symlinks=True)
    console = Console(home, web_db, root=root)
    repo = console.repository()
    init_builtin_ca(repo)
    tokens: dict[str, str] = {}
    for name, role, hosts in (("admin", "admin", ()), ("viewer", "viewer", ()),
                              ("op", "operator", ("lab:web*",)),
                              ("fullop", "operator", ())):
        uc.add_user(repo, name, role, hosts=hosts, password=PASSWORD)
        tokens[name] = uc.create_token(repo, name, expires=None).token
    cert = console_certificate(console, fqdn="certmgr.test")
    cafile = home.parent / "root.pem"
    cafile.write_bytes(b"".join(r.public_bytes(serialization.Encoding.PEM)
                                for r in builtin_roots(repo)))
    security = Security()
    try:
        with serving(console, cert, security) as (url, app, context):
            yield Running(url, console, security, cafile, tokens, app, context)
    finally:
        console.close()


@contextmanager
def serving(console: Console, cert: Any, security: Security
            ) -> Iterator[tuple[str, Any, ssl.SSLContext]]:
    """The console's app served by uvicorn over HTTPS on a free loopback port, in a thread:
    (its https://localhost:PORT URL, the app, the server's TLS context)."""
    app = create_app(console, security=security)
    context = tls_context(cert)
    server = make_server(app, Listen("127.0.0.1", 0), context)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(300):
        if server.started:
            break
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"https://localhost:{port}", app, context
    finally:
        server.should_exit = True
        thread.join(10)

