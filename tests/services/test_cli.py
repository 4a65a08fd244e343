"""certmgr discover / check / layout from the command line, on the fixture trees."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import run_cli

TREES = Path(__file__).resolve().parent.parent / "fixtures" / "trees"
EXPECTED = Path(__file__).resolve().parent.parent / "fixtures" / "expected"


def test_discover_json_and_store(cli: CliRunner, home: Path) -> None:
    code, out, err = run_cli(cli, "discover", "--root", str(TREES / "debian12"), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["services"] == json.loads((EXPECTED / "debian12.json").read_text())
    from certmgr.repository import open_repository

    repo = open_repository(None, home)
    try:
        stored = {s.slot_id for s in repo.list_slots("local")}
    finally:
        repo.close()
    assert stored == {sl["id"] for s in data["services"] for sl in s["slots"]}


def test_discover_human(cli: CliRunner, home: Path) -> None:
    code, out, _err = run_cli(cli, "discover", "--no-store", "--root", str(TREES / "ubuntu904"))
    assert code == 0
    assert "apache2:_default_" in out and "tomcat:8443-rsa" in out and "openldap" in out


def test_check_exit_code_and_json(cli: CliRunner, home: Path) -> None:
    code, out, _err = run_cli(cli, "check", "--root", str(TREES / "ubuntu904"), "--json")
    assert code == 1
    findings = json.loads(out)["findings"]
    assert set(findings[0]) == {"code", "severity", "service", "slot", "path", "line", "message"}
    assert {"WEAK_KEY", "KEY_SHARED", "SELF_SIGNED"} <= {f["code"] for f in findings}


def test_check_config_error_human(cli: CliRunner, home: Path) -> None:
    code, out, _err = run_cli(cli, "check", "--root", str(TREES / "broken-configs"))
    assert code == 1
    assert "CONFIG_ERROR" in out and "/etc/nginx/nginx.conf:5" in out


def test_layout_slapd_prints_the_seeds_ldif(cli: CliRunner, home: Path) -> None:
    code, out, err = run_cli(cli, "layout", "--root", str(TREES / "ubuntu904"), "--service",
                             "slapd", "--name", "ldap.example.com", "--json")
    assert code == 0, err
    plan = json.loads(out)
    files = {f["path"]: (f["owner"], f["group"], f["mode"]) for f in plan["files"]}
    assert files["/etc/ldap/ssl/private/ldap.example.com.key"] == ("root", "openldap", "0640")
    assert files["/etc/ldap/ssl/private"] == ("root", "openldap", "0750")
    assert files["/etc/ldap/ssl/certs/trusted-ca.crt"] == ("root", "root", "0644")
    ldif = plan["edits"][0]["text"]
    assert "replace: olcTLSCertificateKeyFile\nolcTLSCertificateKeyFile: " \
           "/etc/ldap/ssl/private/ldap.example.com.key" in ldif


def test_layout_vsftpd_diff(cli: CliRunner, home: Path) -> None:
    code, out, err = run_cli(cli, "layout", "--root", str(TREES / "ubuntu904"), "--service",
                             "vsftpd", "--name", "www2.example.com")
    assert code == 0, err
    assert "+rsa_cert_file=/etc/vsftpd/ssl/certs/www2.example.com.crt" in out
    assert "-rsa_private_key_file=/etc/ssl/private/ssl-cert-snakeoil.key" in out


def test_layout_unknown_service_is_usage_error(cli: CliRunner, home: Path) -> None:
    code, _out, err = run_cli(cli, "layout", "--root", str(TREES / "ubuntu904"), "--service",
                              "sendmail")
    assert code == 2 and "unknown program" in err


def test_check_uses_names_a_definition_gives_the_slot(cli: CliRunner, home: Path) -> None:
    from certmgr.repository import open_repository
    from certmgr.repository.records import DefinitionRecord

    repo = open_repository(None, home)
    try:
        repo.save_definition(DefinitionRecord(name="www", cn="www.example.com",
                                              sans=("www.example.com",),
                                              targets=("local/apache2:_default_",)))
    finally:
        repo.close()
    code, out, err = run_cli(cli, "check", "--root", str(TREES / "debian12"), "--json",
                             "--service", "apache2")
    assert code == 1, err
    mismatch = [f for f in json.loads(out)["findings"] if f["code"] == "NAME_MISMATCH"]
    assert [(f["slot"], f["severity"]) for f in mismatch] == [("apache2:_default_", "error")]
    assert "www.example.com" in mismatch[0]["message"]


def test_discover_stores_operator_names_for_unnamed_slots(cli: CliRunner, home: Path) -> None:
    from certmgr.repository import open_repository
    from certmgr.repository.records import DefinitionRecord

    repo = open_repository(None, home)
    try:
        repo.save_definition(DefinitionRecord(name="ftp", cn="ftp.example.com",
                                              sans=("ftp.example.com", "www2.example.com"),
                                              targets=("vsftpd",)))
    finally:
        repo.close()
    code, out, err = run_cli(cli, "discover", "--root", str(TREES / "ubuntu904"), "--json")
    assert code == 0, err
    vsftpd = next(s for s in json.loads(out)["services"] if s["kind"] == "vsftpd")
    assert vsftpd["slots"][0]["names"] == ["ftp.example.com", "www2.example.com"]
    assert vsftpd["slots"][0]["names_from"] == "operator"


def test_unknown_host_is_a_usage_error(cli: CliRunner, home: Path) -> None:
    code, _out, err = run_cli(cli, "discover", "--host", "lab:nowhere", "--json")
    assert code == 2 and "not registered" in err


def test_layout_moves_a_file_another_program_reads(cli: CliRunner, home: Path,
                                                   tmp_path: Path) -> None:
    # vsftpd and Postfix both read /srv/tls/mail.{crt,key}: outside /etc/ssl, but shared.
    (tmp_path / "etc/postfix").mkdir(parents=True)
    (tmp_path / "srv/tls").mkdir(parents=True)
    (tmp_path / "etc/vsftpd.conf").write_text(
        "listen=YES\nssl_enable=YES\nrsa_cert_file=/srv/tls/mail.crt\n"
        "rsa_private_key_file=/srv/tls/mail.key\n")
    (tmp_path / "etc/postfix/main.cf").write_text(
        "smtpd_tls_cert_file = /srv/tls/mail.crt\nsmtpd_tls_key_file = /srv/tls/mail.key\n"
        "smtpd_tls_security_level = may\n")
    code, out, err = run_cli(cli, "layout", "--root", str(tmp_path), "--service", "vsftpd",
                             "--name", "ftp.example.com", "--json")
    assert code == 0, err
    paths = {f["path"] for f in json.loads(out)["files"]}
    assert "/etc/vsftpd/ssl/certs/ftp.example.com.crt" in paths
    assert "/srv/tls/mail.crt" not in paths
