"""The probe engine against the lab's real programs: all 12 ports, each with its own mode."""

from __future__ import annotations

import hashlib
import json

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from typer.testing import CliRunner

from certmgr.errors import PKIError
from certmgr.models import TlsMode
from certmgr.pki import load_bundle
from certmgr.probe.prober import ProbeOptions, Prober, run_async
from certmgr.probe.targets import Target
from certmgr.testing.lab import RunningLab
from tests.conftest import run_cli

pytestmark = pytest.mark.lab

# The seed's Table 2 (plus smtps): port -> (program, STARTTLS protocol or None).
PORTS = {389: ("slapd", "ldap"), 636: ("slapd", None), 443: ("apache2", None),
         21: ("vsftpd", "ftp"), 25: ("postfix", "smtp"), 587: ("postfix", "smtp"),
         465: ("postfix", None), 110: ("dovecot", "pop3"), 995: ("dovecot", None),
         143: ("dovecot", "imap"), 993: ("dovecot", None), 8443: ("tomcat", None)}
CONFIG_DIRS = {"slapd": "/etc/ldap", "apache2": "/etc/apache2", "vsftpd": "/etc/vsftpd",
               "postfix": "/etc/postfix", "dovecot": "/etc/dovecot", "tomcat": "/etc/tomcat10"}
KEYSTORE_PASSWORD = "changeit"


def _chains_on_disk(lab: RunningLab, program: str) -> list[list[str]]:
    """The certificate chains (SHA-256, file order) in the program's ssl/ files."""
    host = lab.hosts[0]
    base = CONFIG_DIRS[program]
    chains = []
    for path in host.glob(f"{base}/ssl/certs/*") + host.glob(f"{base}/ssl/private/*"):
        try:
            bundle = load_bundle(host.read_bytes(path), KEYSTORE_PASSWORD, source=path)
        except PKIError:
            continue
        if bundle.certificates:
            chains.append([hashlib.sha256(c.public_bytes(Encoding.DER)).hexdigest()
                           for c in bundle.certificates])
    return chains


def _targets(lab: RunningLab) -> list[Target]:
    address = lab.hosts[0].address
    assert address is not None
    return [Target(address, port, TlsMode.from_protocol(proto))
            for port, (_name, proto) in PORTS.items()]


def test_every_port_is_probed_with_its_mode_and_serves_the_files_on_disk(
        lab: RunningLab) -> None:
    results = run_async(Prober(ProbeOptions(timeout=10)).probe_all(_targets(lab)))
    for result in results:
        program, _ = PORTS[result.target.port]
        assert result.ok, f"{result.target}: {result.error}"
        served = [hashlib.sha256(der).hexdigest() for der in result.chain]
        assert served[0] == lab.expected("lab1", program), result.target
        on_disk = _chains_on_disk(lab, program)
        assert served in on_disk, f"{result.target} serves {served}, files hold {on_disk}"
        assert result.tls_version in ("TLSv1.2", "TLSv1.3")


def test_scan_command_over_the_lab(lab: RunningLab, cli: CliRunner, home: object) -> None:
    words = [str(t) if t.tls is not TlsMode.DIRECT else f"{t}/tls" for t in _targets(lab)]
    code, out, err = run_cli(cli, "scan", "--json", *words)
    results = json.loads(out)["results"]
    assert [r["ok"] for r in results] == [True] * 12, err
    for result in results:
        port = int(result["target"].split(":")[1].split("/")[0])
        assert result["chain"][0]["sha256"] == lab.expected("lab1", PORTS[port][0])
        # The lab's certificates are self-signed: said, and not trusted by the system.
        assert "SELF_SIGNED" in {f["code"] for f in result["findings"]}
    assert code == 1
