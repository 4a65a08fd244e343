"""The session lab: real programs serving their own certificates on the 12 standard ports."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from certmgr.hosts.servicetable import load_service_table, read_pid_file
from certmgr.lab.netns import process_alive
from certmgr.lab.probe import served_sha256, wait_served
from certmgr.models import TlsMode
from certmgr.programs import ServiceKind
from certmgr.testing.lab import RunningLab
from tests.conftest import run_cli

pytestmark = pytest.mark.lab

# Table 2 plus smtps: port -> (program, how TLS starts).
PORTS = {389: ("slapd", "ldap"), 636: ("slapd", None), 443: ("apache2", None),
         21: ("vsftpd", "ftp"), 25: ("postfix", "smtp"), 587: ("postfix", "smtp"),
         465: ("postfix", None), 110: ("dovecot", "pop3"), 995: ("dovecot", None),
         143: ("dovecot", "imap"), 993: ("dovecot", None), 8443: ("tomcat", None)}


def _openssl_leaf_sha256(address: str, port: int, starttls: str | None) -> str:
    argv = ["openssl", "s_client", "-connect", f"{address}:{port}"]
    if starttls:
        argv += ["-starttls", starttls]
    out = subprocess.run(argv, input=b"", capture_output=True, timeout=20, check=False).stdout
    der = subprocess.run(["openssl", "x509", "-outform", "DER"], input=out, capture_output=True,
                         timeout=20, check=True).stdout
    return hashlib.sha256(der).hexdigest()


@pytest.mark.parametrize("index", [0, 1])
def test_every_port_serves_its_programs_own_certificate(lab: RunningLab, index: int) -> None:
    host = lab.hosts[index]
    name_ = lab.state.hosts[index].name
    table = load_service_table(host)
    assert table is not None
    endpoints = {e.port: (entry.name, e) for entry in table for e in entry.endpoints}
    assert {p: (name, e.tls.protocol) for p, (name, e) in endpoints.items()} == PORTS
    for port, (name, endpoint) in endpoints.items():
        assert endpoint.address == host.address
        assert served_sha256(endpoint) == lab.expected(name_, name), f"port {port}"
    # Six programs, six different self-signed certificates, and every host its own.
    assert len({lab.expected(name_, name) for name, _ in PORTS.values()}) == 6
    assert lab.expected("lab1", "apache2") != lab.expected("lab2", "apache2")
    assert lab.hosts[0].address != lab.hosts[1].address


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_from_outside_sees_the_same_certificates(lab: RunningLab) -> None:
    address = lab.hosts[0].address
    assert address is not None
    for port, (name, starttls) in PORTS.items():
        assert _openssl_leaf_sha256(address, port, starttls) == lab.expected("lab1", name), port


def test_seed_files_have_table_1_owners_and_modes(lab: RunningLab) -> None:
    host = lab.hosts[0]
    expect = {
        "/etc/ldap/ssl/private/ldap.example.com.key": ("root", "openldap", 0o640),
        "/etc/ldap/ssl/private": ("root", "openldap", 0o750),
        "/etc/ldap/ssl/certs/ldap.example.com.crt": ("root", "root", 0o644),
        "/etc/ldap/ssl/certs/trusted-ca.crt": ("root", "root", 0o644),
        "/etc/apache2/ssl/private/www.example.com.key": ("root", "root", 0o600),
        "/etc/apache2/ssl/private": ("root", "root", 0o700),
        "/etc/vsftpd/ssl/private/www2.example.com.key": ("root", "root", 0o600),
        "/etc/postfix/ssl/private/smtp.example.com.key": ("root", "root", 0o600),
        "/etc/dovecot/ssl/private/pop.example.com.key": ("root", "root", 0o600),
        "/etc/tomcat10/ssl/private/www2.example.com.jks": ("root", "tomcat", 0o640),
    }
    for path, (owner, group, mode) in expect.items():
        st = host.stat(path)
        assert st is not None, path
        assert (st.owner, st.group, st.mode) == (owner, group, mode), path


def test_programs_run_as_debians_users_from_the_service_table(lab: RunningLab) -> None:
    host = lab.hosts[0]
    table = load_service_table(host)
    assert table is not None
    users = host.users()
    for entry in table:
        pid = read_pid_file(host, entry)  # /run is the host's own tmpfs: read through nsenter
        assert pid is not None and process_alive(pid), entry.name
        with open(f"/proc/{pid}/status") as fh:
            uid = next(int(line.split()[1]) for line in fh if line.startswith("Uid:"))
        expected = {"slapd": "openldap", "tomcat": "tomcat"}.get(entry.name, "root")
        assert users[uid] == expected, entry.name


def test_host_sees_its_own_names_and_files(lab: RunningLab) -> None:
    host = lab.hosts[0]
    assert host.run(["hostname"]).stdout.strip() == "server.example.com"
    resolved = host.run(["getent", "hosts", "imap.example.com"]).stdout.split()[0]
    assert resolved == host.address
    conf = host.read_bytes("/etc/apache2/sites-enabled/default-ssl.conf").decode()
    assert "ServerName www.example.com" in conf
    assert "SSLCertificateFile      /etc/apache2/ssl/certs/www.example.com.crt" in conf
    assert "myhostname = smtp.example.com" in host.read_bytes("/etc/postfix/main.cf").decode()
    # The tree is what the programs see as /etc.
    inside = host.run(["cat", "/etc/mailname"]).stdout
    assert inside == host.local_path("/etc/mailname").read_text() == "smtp.example.com\n"


@pytest.mark.skipif(shutil.which("ssh") is None, reason="the OpenSSH client is not installed")
@pytest.mark.parametrize("index", [0, 1])
def test_ssh_with_the_lab_key_reaches_the_hosts_etc(lab: RunningLab, index: int) -> None:
    host = lab.hosts[index]
    argv = ["ssh", "-F", "none", "-i", lab.state.ssh_key,
            "-o", f"UserKnownHostsFile={lab.state.known_hosts}",
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", f"root@{host.address}",
            "cat /etc/hostname /etc/mailname"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "server.example.com\nsmtp.example.com\n"


def test_status_json_reports_pids_and_served_fingerprints(lab: RunningLab) -> None:
    code, out, _ = run_cli(CliRunner(), "lab", "status", "--dir", str(lab.dir), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["dir"] == str(lab.dir)
    host = data["hosts"][0]
    assert [h["name"] for h in data["hosts"]] == ["lab1", "lab2"]
    assert host["ssh"] == {"user": "root", "port": 22, "key": lab.state.ssh_key,
                           "known_hosts": lab.state.known_hosts,
                           "url": f"ssh://root@{host['address']}"}
    kinds = {p["kind"]: p for p in host["programs"]}
    assert set(kinds) == {"slapd", "apache2", "vsftpd", "postfix", "dovecot", "tomcat"}
    for kind, prog in kinds.items():
        assert process_alive(prog["pid"]), kind
        assert prog["sha256"] == lab.expected("lab1", kind)
        assert all(TlsMode(e["tls"]) for e in prog["endpoints"])


def test_reload_commands_of_the_table_work(lab: RunningLab) -> None:
    host = lab.hosts[0]
    table = load_service_table(host)
    assert table is not None
    for entry in table:
        if entry.reload is not None and entry.name in {k.value for k in ServiceKind}:
            host.run(list(entry.reload), timeout=60)
            for endpoint in entry.endpoints:
                assert wait_served(endpoint, timeout=20) == lab.expected("lab1", entry.name)


def test_lab_exec_runs_inside_the_host(lab: RunningLab) -> None:
    runner = CliRunner()
    code, _, _ = run_cli(runner, "lab", "exec", "--dir", str(lab.dir), "lab2", "--",
                         "test", "-s", "/etc/certmgr/services.json")
    assert code == 0
    code, _, _ = run_cli(runner, "lab", "exec", "--dir", str(lab.dir), "lab:lab1", "--",
                         "sh", "-c", 'test "$(hostname)" = server.example.com && exit 3')
    assert code == 3
    code, _, err = run_cli(runner, "lab", "exec", "--dir", str(lab.dir), "lab9", "--", "true")
    assert code == 2 and "has no host lab9" in err


def test_lab_host_reads_the_hosts_own_run_through_nsenter(lab: RunningLab) -> None:
    host = lab.hosts[1]
    assert "slapd" in host.listdir("/run")
    pid_file = host.stat("/run/slapd/slapd.pid")
    assert pid_file is not None and pid_file.is_file and pid_file.owner == "root"
    assert {"/run/sshd-lab.pid", "/run/vsftpd.pid"} <= set(host.glob("/run/*.pid"))
    assert not (host.local_path("/etc") / "../run/slapd").exists()  # /run is not in the tree


def test_the_registered_ssh_host_reaches_the_lab_host(lab: RunningLab) -> None:
    from certmgr.hosts.ssh import SSHHost

    address = lab.hosts[1].address
    remote = SSHHost(f"ssh://root@{address}", key=lab.state.ssh_key,
                     known_hosts=lab.state.known_hosts)
    try:
        assert remote.read_bytes("/etc/hostname") == b"server.example.com\n"  # over SFTP
        assert remote.run(["cat", "/etc/mailname"]).stdout == "smtp.example.com\n"
        key = remote.stat("/etc/ldap/ssl/private/ldap.example.com.key")
        assert key is not None and (key.group, key.mode) == ("openldap", 0o640)
    finally:
        remote.close()
