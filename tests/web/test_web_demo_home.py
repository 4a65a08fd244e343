"""The issue's first "done when": ``certmgr web`` on the demo's home serves HTTPS with a
chain that verifies to the built-in root. The home is the one ``certmgr demo --keep``
leaves (the file-only lab: the same CA, definitions and certificates, no root needed);
the real ``certmgr web`` process serves it on a free loopback port, and Python's ``ssl``
checks the chain with nothing but the built-in root as trust anchor."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import time
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certmgr.app import users as uc
from certmgr.app.trust import builtin_roots
from certmgr.repository import open_repository
from tests.web.test_web_cli import CERTMGR, _free_port

PASSWORD = "correct horse battery staple"


def _demo_home(tmp_path: Path) -> Path:
    """``certmgr demo --files-only --keep``, its temporary home made under ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTMGR_")}
    run = subprocess.run([str(CERTMGR), "demo", "--files-only", "--keep", "--json"],
                         env={**env, "TMPDIR": str(tmp_path)}, capture_output=True, text=True,
                         timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["ok"], data
    home = Path(data["home"])
    assert home.parent == tmp_path and (home / "certmgr.db").is_file()
    return home


def test_certmgr_web_on_the_demo_home_serves_a_chain_verifying_to_the_builtin_root(
        tmp_path: Path) -> None:
    home = _demo_home(tmp_path)
    with open_repository(None, home) as repo:
        demo = {d.name for d in repo.list_definitions()}
        assert len(demo) >= 5 and "certmgr-web" not in demo  # the demo's own definitions
        roots = builtin_roots(repo)
        uc.add_user(repo, "reader", "viewer", password=PASSWORD)
        token = uc.create_token(repo, "reader", expires=None).token
    root_pem = b"".join(r.public_bytes(serialization.Encoding.PEM) for r in roots)
    # only the built-in root: create_default_context loads no system CA when given cadata
    context = ssl.create_default_context(cadata=root_pem.decode())
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert len(context.get_ca_certs()) == len(roots)

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTMGR_")}
    proc = subprocess.Popen([str(CERTMGR), "web", "--listen", f"127.0.0.1:{port}"],
                            env={**env, "CERTMGR_HOME": str(home)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(300):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as sock, \
                        context.wrap_socket(sock, server_hostname="localhost") as tls:
                    leaf_der = tls.getpeercert(binary_form=True)
                    version = tls.version()
                break
            except ConnectionRefusedError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.1)
        else:
            raise AssertionError("certmgr web did not answer")
        assert version in ("TLSv1.2", "TLSv1.3")
        assert leaf_der is not None
        leaf = x509.load_der_x509_certificate(leaf_der)
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "localhost" in names.get_values_for_type(x509.DNSName)
        # issued by the built-in CA's intermediate, sent along: the root alone verified it
        assert leaf.issuer not in {r.subject for r in roots}
        with httpx.Client(base_url=f"https://localhost:{port}", verify=context,
                          timeout=30) as client:
            assert client.get("/login").status_code == 200
            r = client.get("/api/v1/certificates",
                           headers={"authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text
            served = {c["name"] for c in r.json()["items"]}
            assert demo | {"certmgr-web"} <= served  # the demo's certificates, and its own
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "certificate certmgr-web version 1, issued now" in err
    with open_repository(None, home) as repo:
        assert repo.get_definition("certmgr-web").issuer == "builtin"
