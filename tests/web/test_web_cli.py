"""``certmgr web`` as a user runs it: the installed command on a home with the built-in CA,
serving HTTPS with a chain that verifies to the built-in root; bad input; the unit file."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certmgr.app.trust import builtin_roots
from certmgr.issuers import init_builtin_ca
from certmgr.repository import open_repository
from tests.web.conftest import Running

CERTMGR = Path(sys.executable).with_name("certmgr")
UNIT = Path(__file__).resolve().parents[2] / "contrib" / "certmgr-web.service"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTMGR_")}
    return {**env, "CERTMGR_HOME": str(home)}


def test_certmgr_web_serves_its_own_certificate_from_the_builtin_ca(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with open_repository(None, home) as repo:
        init_builtin_ca(repo)
        root = builtin_roots(repo)[0]
    cafile = tmp_path / "root.pem"
    cafile.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    port = _free_port()
    proc = subprocess.Popen([str(CERTMGR), "web", "--listen", f"127.0.0.1:{port}"],
                            env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        context = ssl.create_default_context(cafile=str(cafile))
        for _ in range(200):
            try:
                r = httpx.get(f"https://localhost:{port}/login", verify=context, timeout=5)
                break
            except httpx.ConnectError:
                if proc.poll() is not None:
                    raise AssertionError(proc.stderr.read() if proc.stderr else "") from None
                time.sleep(0.1)
        else:
            raise AssertionError("certmgr web did not answer")
        assert r.status_code == 200 and "Sign in" in r.text
        served = ssl.get_server_certificate(("127.0.0.1", port))
        cert = x509.load_pem_x509_certificate(served.encode())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "localhost" in names.get_values_for_type(x509.DNSName)
        # plain HTTP is not served
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=5)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "certificate certmgr-web version 1, issued now" in err
    with open_repository(None, home) as repo:
        reads = repo.list_audit(action="key.read")
        assert reads and reads[0].detail["reason"] == "web console TLS"
        assert repo.get_definition("certmgr-web").issuer == "builtin"


@pytest.mark.parametrize(("args", "message"), [
    (["--listen", "8443"], "is not ADDRESS:PORT"),
    (["--listen", "127.0.0.1:70000"], "is not ADDRESS:PORT"),
    (["--listen", "127.0.0.1:8443 "], "is not ADDRESS:PORT"),
    ([], "ca init"),
    (["--certificate", "nosuch"], "no certificate"),
])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    proc = subprocess.run([str(CERTMGR), "web", *args], env=_env(tmp_path / "home"),
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_help_does_not_import_the_web_stack() -> None:
    code = ("import sys; from certmgr.cli.app import _register; _register(['--help']); "
            "print(any(m.split('.')[0] in ('fastapi', 'uvicorn', 'starlette') "
            "for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == "False"


def test_systemd_unit_runs_the_console_hardened_like_the_monitor(tmp_path: Path) -> None:
    text = UNIT.read_text()
    [exec_start] = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    assert exec_start.split()[1:4] == ["web", "--listen", "127.0.0.1:8443"]
    monitor = (UNIT.parent / "certmgr-monitor.service").read_text()
    hardening = [line for line in monitor.splitlines()
                 if line.split("=")[0] in ("ProtectSystem", "NoNewPrivileges", "UMask",
                                           "CapabilityBoundingSet", "SystemCallFilter",
                                           "RestrictAddressFamilies", "PrivateTmp")]
    assert len(hardening) == 7 and all(line in text for line in hardening)
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    unit = tmp_path / "certmgr-web.service"
    unit.write_text(text.replace("/usr/local/bin/certmgr", str(CERTMGR)))
    proc = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_a_renewed_console_certificate_is_served_without_a_restart(web: Running) -> None:
    from certmgr.app.certificates import issue
    from certmgr.app.console import console_certificate
    from certmgr.web.server import CertificateWatch

    def serial() -> int:
        pem = ssl.get_server_certificate(("127.0.0.1", int(web.url.rsplit(":", 1)[1])))
        return x509.load_pem_x509_certificate(pem.encode()).serial_number

    first = console_certificate(web.console)
    before = serial()
    watch = CertificateWatch(lambda: console_certificate(web.console), web.context, first)
    assert not watch.check()  # nothing new
    issue(web.console.repository(), ["certmgr-web"])  # a renewal, as the monitor does it
    assert watch.check() and watch.current.version == first.version + 1
    assert serial() != before
