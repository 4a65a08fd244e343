"""The file-only lab (no root needed) and the parts of the lab that need no programs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certmgr.errors import LabError
from certmgr.hosts.base import parse_passwd
from certmgr.hosts.lab import open_lab_host
from certmgr.hosts.servicetable import load_service_table
from certmgr.lab import lab_down, lab_up, load_state
from certmgr.lab import netns as lab_netns
from certmgr.lab import tree as lab_tree
from certmgr.lab.certs import jks_keystore, self_signed
from certmgr.lab.tree import template
from certmgr.models import TlsMode
from certmgr.programs.dovecot.lab import DovecotLab
from tests.conftest import run_cli

# A fresh machine's accounts before any package is installed: root and nobody.
_FRESH_PASSWD = ("root:x:0:0:root:/root:/bin/bash\n"
                 "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
_FRESH_GROUP = "root:x:0:\nnogroup:x:65534:\n"


def _fresh_etc(where: Path) -> Path:
    etc = where / "etc"
    etc.mkdir()
    (etc / "passwd").write_text(_FRESH_PASSWD)
    (etc / "group").write_text(_FRESH_GROUP)
    return etc


@pytest.fixture(scope="module")
def files_lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A files-only lab built from a fresh machine's /etc (none of the programs installed)."""
    base = tmp_path_factory.mktemp("fileslab")
    lab_dir = base / "lab"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lab_tree, "SOURCE_ETC", _fresh_etc(base))
        lab_up(lab_dir, files_only=True, programs=["slapd", "apache2", "tomcat"])
    assert (base / "etc/passwd").read_text() == _FRESH_PASSWD  # the source is not touched
    return lab_dir


def test_files_only_lab_has_the_seed_layout_and_a_service_table(files_lab: Path) -> None:
    state = load_state(files_lab)
    assert state is not None and state.status == "files"
    assert state.programs == ("tomcat", "slapd", "apache2")
    host = open_lab_host(files_lab, "lab1")
    assert host.name == "lab:lab1"
    key = host.stat("/etc/ldap/ssl/private/ldap.example.com.key")
    assert key is not None and key.mode == 0o640
    web = host.stat("/etc/apache2/ssl/private/www.example.com.key")
    assert web is not None and web.mode == 0o600
    assert host.exists("/etc/tomcat10/ssl/private/www2.example.com.jks")
    assert not host.exists("/etc/vsftpd/ssl")  # not asked for
    table = load_service_table(host)
    assert table is not None
    assert table.names() == ["tomcat", "slapd", "apache2", "sshd"]
    assert table.get("apache2").reload == ("apache2ctl", "graceful")
    assert table.get("tomcat").user == "tomcat"
    # Paths outside the host's own directories are this machine's.
    assert host.local_path("/usr/share") == Path("/usr/share")
    assert host.local_path("/etc/hosts") == Path(state.hosts[0].root) / "etc/hosts"
    hosts = host.read_bytes("/etc/hosts").decode()
    assert f"{state.hosts[0].address}\tsmtp.example.com" in hosts


def test_the_files_only_lab_creates_the_accounts_it_needs_in_its_own_etc(
        files_lab: Path) -> None:
    host = open_lab_host(files_lab, "lab1")
    passwd = parse_passwd(host.read_bytes("/etc/passwd").decode())
    for user in ("openldap", "tomcat"):
        uid, gid = passwd[user]
        assert 100 <= uid < 1000 and host.groups()[gid] == user  # as adduser --system --group
    # By the host's own accounts, each program may read its key, with or without root
    # (without it the files stay ours and the lab's /etc/group lets the program in).
    for path, user in (("/etc/ldap/ssl/private/ldap.example.com.key", "openldap"),
                       ("/etc/tomcat10/ssl/private/www2.example.com.jks", "tomcat")):
        st = host.stat(path)
        assert st is not None and st.mode == 0o640
        assert user in host.group_members(st.group), (path, st.group)


def test_the_files_only_lab_lays_debians_files_the_programs_build_on(files_lab: Path) -> None:
    # No apache2 package on the "machine": Debian's apache2.conf and the modules the lab
    # enables come with certmgr, so discovery reads Apache as on a Debian host.
    host = open_lab_host(files_lab, "lab1")
    stock = host.read_bytes("/etc/apache2/apache2.conf").decode()
    assert "IncludeOptional sites-enabled/*.conf" in stock
    assert host.exists("/etc/apache2/mods-available/ssl.load")
    code, out, err = run_cli(CliRunner(), "discover", "--root",
                             str(files_lab / "lab1"), "--json")
    assert code == 0, err
    apache = [s for s in json.loads(out)["services"] if s["kind"] == "apache2"]
    assert [slot["key"] for slot in apache[0]["slots"]] == [
        "/etc/apache2/ssl/private/www.example.com.key"]


def test_a_running_labs_tree_names_the_missing_package(tmp_path: Path) -> None:
    etc = _fresh_etc(tmp_path)
    tree = lab_tree.HostTree(tmp_path)
    with pytest.raises(LabError, match=r"user tomcat does not exist.*is its package installed"):
        tree.uid("tomcat")
    assert (etc / "passwd").read_text() == _FRESH_PASSWD


def test_a_second_up_in_the_same_dir_is_refused(files_lab: Path) -> None:
    with pytest.raises(LabError, match="already in"):
        lab_up(files_lab, files_only=True)


def test_status_of_a_files_only_lab(files_lab: Path) -> None:
    code, out, _ = run_cli(CliRunner(), "lab", "status", "--dir", str(files_lab), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["status"] == "files"
    progs = {p["kind"]: p for p in data["hosts"][0]["programs"]}
    assert set(progs) == {"tomcat", "slapd", "apache2"}
    assert all(p["pid"] is None for p in progs.values())


def test_down_removes_a_files_only_lab(tmp_path: Path) -> None:
    lab_dir = tmp_path / "lab"
    lab_up(lab_dir, files_only=True, programs=["vsftpd"])
    assert lab_down(lab_dir) is not None
    assert not lab_dir.exists()
    assert lab_down(lab_dir) is None


def test_bad_arguments_say_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="--layout"):
        lab_up(tmp_path / "a", layout="redhat", files_only=True)
    with pytest.raises(LabError, match="unknown program lighttpd"):
        lab_up(tmp_path / "b", programs=["lighttpd"], files_only=True)


def test_two_programs_on_one_port_are_refused_before_anything_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No two lab programs share a port today; a second mail server on 25 (Exim beside
    # Postfix) would. Dovecot made to claim 25 stands in for it.
    monkeypatch.setattr(DovecotLab, "ports", (*DovecotLab.ports, (25, TlsMode.STARTTLS_SMTP)))
    with pytest.raises(LabError, match="postfix and dovecot both listen on port 25"):
        lab_up(tmp_path / "c", programs=["postfix", "dovecot"], files_only=True)
    assert not (tmp_path / "c").exists()


def test_two_web_servers_on_port_80_are_refused(tmp_path: Path) -> None:
    # Apache's default site and nginx's plain server both answer http-01 on port 80.
    with pytest.raises(LabError, match="apache2 and nginx both listen on port 80"):
        lab_up(tmp_path / "d", programs=["apache2", "nginx"], files_only=True)
    assert not (tmp_path / "d").exists()


def test_without_root_up_offers_the_files_only_lab(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab_netns.os, "geteuid", lambda: 1000)
    with pytest.raises(LabError, match="--files-only"):
        lab_netns.check_tools()


def test_templates_refuse_missing_values() -> None:
    with pytest.raises(LabError, match="@ADDRESS@"):
        template("apache2/ports.conf")


def test_lab_credentials_are_self_signed_and_the_keystore_opens() -> None:
    import jks
    from cryptography import x509

    cred = self_signed("www2.example.com", ("ftp.example.com",))
    cert = x509.load_pem_x509_certificate(cred.cert_pem)
    assert cert.issuer == cert.subject
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["www2.example.com", "ftp.example.com"]
    store = jks.KeyStore.loads(jks_keystore(cred, alias="tomcat", password="changeit"),
                               "changeit")
    assert store.private_keys["tomcat"].cert_chain[0][1] == cred.cert_der


def test_cli_up_registers_the_hosts_and_down_forgets_them(tmp_path: Path, home: Path) -> None:
    from certmgr.repository import open_repository

    runner = CliRunner()
    lab_dir = tmp_path / "lab"
    code, out, _ = run_cli(runner, "lab", "up", "--files-only", "--programs", "dovecot,postfix",
                           "--dir", str(lab_dir), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["registered"] == ["lab:lab1"]  # ssh:// only for a running lab
    repo = open_repository(db_url=None, home=home)
    try:
        (record,) = repo.list_hosts()
        assert (record.name, record.kind.value) == ("lab:lab1", "lab")
        assert record.params["root"] == str(lab_dir / "lab1")
        code, _, _ = run_cli(runner, "lab", "down", "--dir", str(lab_dir))
        assert code == 0
        assert repo.list_hosts() == []
    finally:
        repo.close()
    assert not lab_dir.exists()
