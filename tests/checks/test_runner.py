"""run_checks on broken trees: one tree per check code, built with real files and modes."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certmgr.checks.runner import run_checks
from certmgr.hosts.local import LocalHost
from certmgr.models import Finding, Severity
from certmgr.programs import discover_host
from tests.checks.pkihelp import FIXTURES, DemoPKI, ec_key, key_pem, make_pki, pem

NOW = dt.datetime.now(dt.UTC)
APACHE = """ServerRoot /etc/apache2
<VirtualHost *:443>
  ServerName www.example.com
  SSLEngine on
  SSLCertificateFile /etc/apache2/ssl/certs/www.crt
  SSLCertificateKeyFile /etc/apache2/ssl/private/www.key
  SSLCACertificateFile /etc/apache2/ssl/certs/trusted-ca.crt
</VirtualHost>
"""
SLAPD = ("dn: cn=config\nobjectClass: olcGlobal\ncn: config\n"
         "olcTLSCertificateFile: /etc/ldap/ssl/certs/ldap.crt\n"
         "olcTLSCertificateKeyFile: /etc/ldap/ssl/private/ldap.key\n"
         "olcTLSCACertificateFile: /etc/ldap/ssl/certs/trusted-ca.crt\n")


@pytest.fixture(scope="module")
def pki() -> DemoPKI:
    return make_pki(NOW)


def write(root: Path, path: str, data: bytes | str, mode: int = 0o644) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() or target.is_symlink():
        target.unlink()
    target.write_bytes(data.encode() if isinstance(data, str) else data)
    target.chmod(mode)


def users(root: Path, *, file_group: str = "root") -> None:
    """Map this test's uid to root and its gid to ``file_group`` in the tree's own files."""
    uid, gid = os.getuid(), os.getgid()
    root.chmod(0o755)  # pytest makes tmp_path 0700; a real / is searchable by everyone
    write(root, "/etc/passwd", f"root:x:{uid}:{gid}::/root:/bin/sh\n"
                               "openldap:x:60001:60001::/var/lib/ldap:/bin/false\n")
    # The openldap user is a member of the openldap group (by list: its primary gid is
    # another number here, since the files' gid is this test's).
    groups = [f"{file_group}:x:{gid}:{'openldap' if file_group == 'openldap' else ''}"]
    groups += [f"{g}:x:{60001 + i}:" for i, g in enumerate(("openldap", "root"))
               if g != file_group]
    write(root, "/etc/group", "\n".join(groups) + "\n")


def apache_tree(root: Path, pki: DemoPKI, *, names: list[str] | None = None,
                key: bytes | None = None, cert: bytes | None = None,
                ca: bytes | None = None) -> Path:
    leaf, leaf_key = pki.leaf(names or ["www.example.com"], now=NOW - dt.timedelta(days=1))
    write(root, "/etc/hostname", "web1\n")
    write(root, "/etc/apache2/apache2.conf", APACHE)
    write(root, "/etc/apache2/ssl/certs/www.crt",
          cert if cert is not None else pem(leaf, pki.inter))
    write(root, "/etc/apache2/ssl/private/www.key",
          key if key is not None else key_pem(leaf_key), 0o600)
    (root / "etc/apache2/ssl/private").chmod(0o700)
    write(root, "/etc/apache2/ssl/certs/trusted-ca.crt", ca if ca is not None else pem(pki.root))
    users(root)
    return root


def check(root: Path) -> list[Finding]:
    host = LocalHost(root)
    return run_checks(host, discover_host(host), now=NOW)


def codes(findings: list[Finding]) -> set[str]:
    return {f.code for f in findings}


def test_clean_tree_has_no_findings(tmp_path: Path, pki: DemoPKI) -> None:
    assert check(apache_tree(tmp_path, pki)) == []


def test_file_missing(tmp_path: Path, pki: DemoPKI) -> None:
    root = apache_tree(tmp_path, pki)
    (root / "etc/apache2/ssl/private/www.key").unlink()
    found = check(root)
    assert codes(found) == {"FILE_MISSING"}
    assert found[0].path == "/etc/apache2/ssl/private/www.key"
    assert found[0].slot == "apache2:www.example.com"


def test_cert_unparsable(tmp_path: Path, pki: DemoPKI) -> None:
    found = check(apache_tree(tmp_path, pki, cert=b"-----BEGIN CERTIFICATE-----\nAAAA\n"
                                                  b"-----END CERTIFICATE-----\n"))
    assert codes(found) == {"CERT_UNPARSABLE"}


def test_key_unparsable(tmp_path: Path, pki: DemoPKI) -> None:
    found = check(apache_tree(tmp_path, pki, key=b"not a key at all\n"))
    assert codes(found) == {"KEY_UNPARSABLE"}


def test_key_encrypted_without_passphrase(tmp_path: Path, pki: DemoPKI) -> None:
    found = check(apache_tree(tmp_path, pki, key=key_pem(ec_key(), b"secret")))
    assert codes(found) == {"KEY_ENCRYPTED"}


def test_key_mismatch(tmp_path: Path, pki: DemoPKI) -> None:
    found = check(apache_tree(tmp_path, pki, key=key_pem(ec_key())))
    assert codes(found) == {"KEY_MISMATCH"}
    assert found[0].severity is Severity.ERROR


def test_chain_incomplete_and_untrusted(tmp_path: Path, pki: DemoPKI) -> None:
    leaf, leaf_key = pki.leaf(["www.example.com"], now=NOW - dt.timedelta(days=1))
    root = apache_tree(tmp_path / "a", pki, cert=pem(leaf))
    write(root, "/etc/apache2/ssl/private/www.key", key_pem(leaf_key), 0o600)
    assert codes(check(root)) == {"CHAIN_INCOMPLETE"}
    other = make_pki(NOW)
    assert codes(check(apache_tree(tmp_path / "b", pki, ca=pem(other.root)))) == {
        "CHAIN_UNTRUSTED"}


def test_expired_and_expiring(tmp_path: Path, pki: DemoPKI) -> None:
    leaf, leaf_key = pki.leaf(["www.example.com"], days=10, now=NOW - dt.timedelta(days=30))
    root = apache_tree(tmp_path, pki, cert=pem(leaf, pki.inter))
    write(root, "/etc/apache2/ssl/private/www.key", key_pem(leaf_key), 0o600)
    assert codes(check(root)) == {"EXPIRED"}
    soon, soon_key = pki.leaf(["www.example.com"], days=5, now=NOW - dt.timedelta(days=1))
    write(root, "/etc/apache2/ssl/certs/www.crt", pem(soon, pki.inter))
    write(root, "/etc/apache2/ssl/private/www.key", key_pem(soon_key), 0o600)
    assert codes(check(root)) == {"EXPIRING_SOON"}


def test_name_mismatch_from_config_is_an_error(tmp_path: Path, pki: DemoPKI) -> None:
    found = check(apache_tree(tmp_path, pki, names=["other.example.com"]))
    assert [(f.code, f.severity) for f in found] == [("NAME_MISMATCH", Severity.ERROR)]


def test_key_permissions_and_private_dir(tmp_path: Path, pki: DemoPKI) -> None:
    root = apache_tree(tmp_path, pki)
    (root / "etc/apache2/ssl/private/www.key").chmod(0o644)
    (root / "etc/apache2/ssl/private").chmod(0o755)
    found = check(root)
    assert codes(found) == {"KEY_PERMISSIONS"}
    assert "0644" in found[0].message and "directory" in found[0].message
    assert found[0].severity is Severity.ERROR  # world-readable
    (root / "etc/apache2/ssl/private/www.key").chmod(0o640)
    assert [(f.code, f.severity) for f in check(root)] == [
        ("KEY_PERMISSIONS", Severity.WARNING)]


def slapd_tree(root: Path, pki: DemoPKI, *, key_group: str, key_mode: int) -> Path:
    leaf, leaf_key = pki.leaf(["ldap.example.com"], now=NOW - dt.timedelta(days=1))
    write(root, "/etc/hostname", "ldap.example.com\n")
    write(root, "/etc/ldap/slapd.d/cn=config.ldif", SLAPD)
    write(root, "/etc/ldap/ssl/certs/ldap.crt", pem(leaf, pki.inter))
    write(root, "/etc/ldap/ssl/certs/trusted-ca.crt", pem(pki.root))
    write(root, "/etc/ldap/ssl/private/ldap.key", key_pem(leaf_key), key_mode)
    (root / "etc/ldap/ssl/private").chmod(0o750)
    users(root, file_group=key_group)
    return root


def test_slapd_with_table_1_modes_is_clean(tmp_path: Path, pki: DemoPKI) -> None:
    assert check(slapd_tree(tmp_path, pki, key_group="openldap", key_mode=0o640)) == []


def test_key_unreadable_by_service(tmp_path: Path, pki: DemoPKI) -> None:
    # The seed's trap: slapd reads its key as openldap; a root-only key stops it.
    found = check(slapd_tree(tmp_path, pki, key_group="root", key_mode=0o600))
    assert "KEY_UNREADABLE_BY_SERVICE" in codes(found)
    unreadable = next(f for f in found if f.code == "KEY_UNREADABLE_BY_SERVICE")
    assert unreadable.path == "/etc/ldap/ssl/private/ldap.key" and "openldap" in unreadable.message


def test_key_shared_across_programs_only(tmp_path: Path, pki: DemoPKI) -> None:
    root = apache_tree(tmp_path, pki)
    leaf_pem = (root / "etc/apache2/ssl/certs/www.crt").read_bytes()
    write(root, "/etc/vsftpd.conf", "ssl_enable=YES\nrsa_cert_file=/etc/vsftpd/www.crt\n"
                                    "rsa_private_key_file=/etc/vsftpd/www.key\n")
    write(root, "/etc/vsftpd/www.crt", leaf_pem)
    (root / "etc/vsftpd/www.key").symlink_to("/etc/apache2/ssl/private/www.key")
    shared = [f for f in check(root) if f.code == "KEY_SHARED"]
    assert {f.service for f in shared} == {"apache2", "vsftpd"}
    # A copy of the same key (the seed's rule: one copy per program) is not shared.
    (root / "etc/vsftpd/www.key").unlink()
    shutil.copy(root / "etc/apache2/ssl/private/www.key", root / "etc/vsftpd/www.key")
    (root / "etc/vsftpd/www.key").chmod(0o600)
    assert "KEY_SHARED" not in codes(check(root))


def test_apparmor_denies_slapd_outside_its_profile(tmp_path: Path, pki: DemoPKI) -> None:
    root = slapd_tree(tmp_path, pki, key_group="openldap", key_mode=0o640)
    shutil.copytree(FIXTURES / "trees/ubuntu904/etc/apparmor.d", root / "etc/apparmor.d")
    assert codes(check(root)) == set()  # the profile allows /etc/ldap/** kr
    conf = SLAPD.replace("/etc/ldap/ssl/private/ldap.key", "/srv/keys/ldap.key")
    write(root, "/etc/ldap/slapd.d/cn=config.ldif", conf)
    shutil.copytree(root / "etc/ldap/ssl/private", root / "srv/keys")
    denied = [f for f in check(root) if f.code == "APPARMOR_DENIED"]
    assert [f.path for f in denied] == ["/srv/keys/ldap.key"]
    # In complain mode (or disabled) the profile denies nothing.
    (root / "etc/apparmor.d/disable").mkdir()
    (root / "etc/apparmor.d/disable/usr.sbin.slapd").symlink_to("../usr.sbin.slapd")
    assert "APPARMOR_DENIED" not in codes(check(root))


def test_config_error_is_a_finding(tmp_path: Path, pki: DemoPKI) -> None:
    root = apache_tree(tmp_path, pki)
    write(root, "/etc/apache2/apache2.conf", APACHE.replace("</VirtualHost>", ""))
    found = check(root)
    assert [(f.code, f.path, f.line) for f in found] == [
        ("CONFIG_ERROR", "/etc/apache2/apache2.conf", 2)]


def test_seed_tree_findings() -> None:
    host = LocalHost(FIXTURES / "trees" / "ubuntu904")
    found = run_checks(host, discover_host(host), now=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    by_slot = {(f.slot, f.code) for f in found}
    # The seed's snakeoil: shared by five programs, RSA 1024, SHA-1, self-signed.
    for slot in ("slapd", "apache2:_default_", "vsftpd", "postfix", "dovecot"):
        assert {(slot, "KEY_SHARED"), (slot, "WEAK_KEY"), (slot, "WEAK_SIGNATURE"),
                (slot, "SELF_SIGNED")} <= by_slot
    assert ("postfix", "NAME_MISMATCH") in by_slot  # myhostname smtp.example.com
    assert ("tomcat:8443-rsa", "EXPIRED") in by_slot


def test_passphrase_sources(tmp_path: Path, pki: DemoPKI) -> None:
    leaf, leaf_key = pki.leaf(["www.example.com"], now=NOW - dt.timedelta(days=1))
    root = tmp_path
    site = ("events {}\nhttp {\n  ssl_password_file /etc/nginx/ssl/pass.txt;\n  server {\n"
            "    listen 443 ssl;\n    server_name www.example.com;\n"
            "    ssl_certificate /etc/nginx/ssl/www.crt;\n"
            "    ssl_certificate_key /etc/nginx/ssl/www.key;\n"
            "    ssl_trusted_certificate /etc/nginx/ssl/ca.crt;\n  }\n}\n")
    write(root, "/etc/nginx/nginx.conf", site)
    write(root, "/etc/nginx/ssl/www.crt", pem(leaf, pki.inter))
    write(root, "/etc/nginx/ssl/ca.crt", pem(pki.root))
    write(root, "/etc/nginx/ssl/www.key", key_pem(leaf_key, b"second"), 0o600)
    write(root, "/etc/nginx/ssl/pass.txt", "first\nsecond\n", 0o600)
    users(root)
    assert codes(check(root)) == set()  # nginx tries each line of ssl_password_file
    write(root, "/etc/nginx/ssl/pass.txt", "first\n", 0o600)
    assert [(f.code, f.severity) for f in check(root)] == [("KEY_ENCRYPTED", Severity.ERROR)]
    # Apache asking a program for the passphrase: certmgr cannot check, says so.
    apache = APACHE.replace("ServerRoot /etc/apache2\n", "ServerRoot /etc/apache2\n"
                            "SSLPassPhraseDialog exec:/usr/share/apache2/ask-for-passphrase\n")
    apache_root = apache_tree(tmp_path / "a", pki, key=key_pem(ec_key(), b"x"))
    write(apache_root, "/etc/apache2/apache2.conf", apache)
    assert [(f.code, f.severity) for f in check(apache_root)] == [
        ("KEY_ENCRYPTED", Severity.WARNING)]


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cert=st.binary(max_size=400), key=st.binary(max_size=400))
def test_any_bytes_in_the_files_are_findings_not_crashes(tmp_path: Path, pki: DemoPKI,
                                                         cert: bytes, key: bytes) -> None:
    banner = b"-----BEGIN CERTIFICATE-----\n"
    root = apache_tree(tmp_path, pki, cert=banner + cert, key=key)
    found = check(root)
    assert found and {f.code for f in found} <= {
        "CERT_UNPARSABLE", "KEY_UNPARSABLE", "FILE_MISSING", "KEY_ENCRYPTED", "KEY_MISMATCH"}


def test_password_in_the_programs_config(tmp_path: Path, pki: DemoPKI) -> None:
    from certmgr.pki import jks_keystore

    leaf, leaf_key = pki.leaf(["mail.example.com"], now=NOW - dt.timedelta(days=1))
    root = tmp_path
    write(root, "/etc/hostname", "mail.example.com\n")
    conf = ("protocols = imap\nssl_cert = </etc/dovecot/ssl/c.crt\n"
            "ssl_key = </etc/dovecot/ssl/k.key\nssl_key_password = s3cret\n"
            "ssl_ca = </etc/dovecot/ssl/ca.crt\n")
    write(root, "/etc/dovecot/dovecot.conf", conf)
    write(root, "/etc/dovecot/ssl/c.crt", pem(leaf, pki.inter))
    write(root, "/etc/dovecot/ssl/ca.crt", pem(pki.root))
    write(root, "/etc/dovecot/ssl/k.key", key_pem(leaf_key, b"s3cret"), 0o600)
    (root / "etc/dovecot/ssl").chmod(0o700)
    users(root)
    assert check(root) == []  # Dovecot has the passphrase: an encrypted key is fine
    write(root, "/etc/dovecot/dovecot.conf", conf.replace("s3cret", "wrong"))
    assert [(f.code, f.path) for f in check(root)] == [
        ("KEY_ENCRYPTED", "/etc/dovecot/ssl/k.key")]
    # Tomcat: the keystore password in server.xml must open the keystore.
    xml = ('<Server><Service name="C"><Connector port="8443" SSLEnabled="true">'
           '<SSLHostConfig><Certificate certificateKeystoreFile="/etc/tomcat10/ssl/ks.jks" '
           'certificateKeystorePassword="{pw}" type="RSA"/></SSLHostConfig>'
           '</Connector></Service></Server>')
    write(root, "/etc/tomcat10/server.xml", xml.format(pw="wrong-one"))
    write(root, "/etc/tomcat10/ssl/ks.jks",
          jks_keystore(leaf, [pki.inter], leaf_key, alias="tomcat", password="changeit"), 0o600)
    found = {f.code for f in check(root) if f.service == "tomcat"}
    # (root:root 0600 is also unreadable for the tomcat user: reported beside it)
    assert found == {"KEY_ENCRYPTED", "KEY_UNREADABLE_BY_SERVICE"}
