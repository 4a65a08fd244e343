"""Planning (layout, formats, owners, config edits) and preflight on --root trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from certmgr.deploy.configedit import edit_setting
from certmgr.deploy.control import ServiceControl
from certmgr.deploy.layout import plan_slot
from certmgr.deploy.model import SettingRef, SlotTarget
from certmgr.deploy.preflight import preflight
from certmgr.errors import ConfigError, PreflightFailed
from certmgr.hosts.local import LocalHost
from certmgr.models import Endpoint, TlsMode
from certmgr.pki import load_bundle
from certmgr.programs import ServiceKind, spec_for
from certmgr.programs.nginx import STYLE as NGINX_STYLE
from certmgr.programs.styles import EQUALS, SPACE, LineStyle
from certmgr.programs.tomcat import STYLE as XML_STYLE
from tests.deploy.conftest import SwapAfterLstat
from tests.deploy.material import TestCA

APACHE_SITE = """\
<VirtualHost 198.18.0.2:443>
    # the snakeoil pair, shared with every other program
    SSLEngine on
    SSLCertificateFile      /etc/ssl/certs/ssl-cert-snakeoil.pem
    SSLCertificateKeyFile   /etc/ssl/private/ssl-cert-snakeoil.key
</VirtualHost>
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "etc/apache2/sites-enabled").mkdir(parents=True)
    (tmp_path / "etc/ssl/private").mkdir(parents=True)
    (tmp_path / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n"
                                         "openldap:x:108:108::/:/bin/false\n"
                                         "tomcat:x:995:995::/:/bin/false\n")
    (tmp_path / "etc/group").write_text("root:x:0:\nopenldap:x:108:\ntomcat:x:995:\n"
                                        "ssl-cert:x:103:\n")
    (tmp_path / "etc/apache2/sites-enabled/default-ssl.conf").write_text(APACHE_SITE)
    return tmp_path


def apache_target(**changes: object) -> SlotTarget:
    conf = "/etc/apache2/sites-enabled/default-ssl.conf"
    base = SlotTarget(
        host="lab:lab1", kind=ServiceKind.APACHE2, slot_id="apache2:198.18.0.2:443",
        config=conf, endpoints=(Endpoint("198.18.0.2", 443, TlsMode.DIRECT),),
        names=("www.example.com",), cert="/etc/ssl/certs/ssl-cert-snakeoil.pem",
        key="/etc/ssl/private/ssl-cert-snakeoil.key",
        settings={"cert": SettingRef(conf, 4, "SSLCertificateFile"),
                  "key": SettingRef(conf, 5, "SSLCertificateKeyFile")})
    return SlotTarget(**{**base.__dict__, **changes})


def test_shared_snakeoil_moves_to_seed_layout_with_a_minimal_edit(root: Path,
                                                                  ca: TestCA) -> None:
    host = LocalHost(root=root)
    material = ca.material("www.example.com", ("www.example.com",))
    plan = plan_slot(host, apache_target(), material, spec_for(ServiceKind.APACHE2),
                     ServiceControl(host))
    assert plan.layout == "seed"
    files = {f.role: (f.spec.path, f.spec.owner, f.spec.group, f.spec.mode) for f in plan.files}
    assert files == {
        "cert": ("/etc/apache2/ssl/certs/www.example.com.crt", "root", "root", 0o644),
        "key": ("/etc/apache2/ssl/private/www.example.com.key", "root", "root", 0o600)}
    assert [(d.path, d.mode) for d in plan.dirs] == [("/etc/apache2/ssl/certs", 0o755),
                                                      ("/etc/apache2/ssl/private", 0o700)]
    cert_file = next(f for f in plan.files if f.role == "cert")
    assert len(load_bundle(cert_file.data).certificates) == 2  # leaf + intermediate
    (edit,) = plan.edits
    new = edit.new.decode()
    assert new == APACHE_SITE.replace(
        "/etc/ssl/certs/ssl-cert-snakeoil.pem", "/etc/apache2/ssl/certs/www.example.com.crt"
    ).replace("/etc/ssl/private/ssl-cert-snakeoil.key",
              "/etc/apache2/ssl/private/www.example.com.key")
    assert "+    SSLCertificateFile      /etc/apache2/ssl/certs/www.example.com.crt" in \
        edit.diff()
    assert preflight(host, plan).ok


def test_own_files_are_replaced_in_place(root: Path, ca: TestCA) -> None:
    host = LocalHost(root=root)
    target = apache_target(cert="/etc/apache2/ssl/certs/www.crt",
                           key="/etc/apache2/ssl/private/www.key")
    plan = plan_slot(host, target, ca.material("www", ("www.example.com",)),
                     spec_for(ServiceKind.APACHE2), ServiceControl(host))
    assert plan.layout == "in-place" and plan.edits == () and plan.dirs == ()
    assert [f.spec.path for f in plan.files] == ["/etc/apache2/ssl/certs/www.crt",
                                                 "/etc/apache2/ssl/private/www.key"]


def test_slapd_key_is_group_readable_and_config_goes_through_ldap(root: Path,
                                                                   ca: TestCA) -> None:
    host = LocalHost(root=root)
    ldif = "/etc/ldap/slapd.d/cn=config.ldif"
    target = SlotTarget(host="lab:lab1", kind=ServiceKind.SLAPD, slot_id="slapd", config=ldif,
                        user="openldap", group="openldap", names=("ldap.example.com",),
                        names_from="host", cert="/etc/ssl/certs/ssl-cert-snakeoil.pem",
                        key="/etc/ssl/private/ssl-cert-snakeoil.key",
                        ca="/etc/ssl/certs/ca-certificates.crt")
    plan = plan_slot(host, target, ca.material("ldap.example.com", ("ldap.example.com",)),
                     spec_for(ServiceKind.SLAPD), ServiceControl(host))
    specs = {f.role: f.spec for f in plan.files}
    assert (specs["key"].owner, specs["key"].group, specs["key"].mode) == \
        ("root", "openldap", 0o640)
    assert specs["ca"].path == "/etc/ldap/ssl/certs/trusted-ca.crt"
    assert ("/etc/ldap/ssl/private", "openldap", 0o750) in \
        [(d.path, d.group, d.mode) for d in plan.dirs]
    assert plan.ldap is not None and plan.edits == ()
    assert plan.ldap.new["olcTLSCertificateKeyFile"] == "/etc/ldap/ssl/private/ldap.example.com.key"
    assert b"replace: olcTLSCertificateFile\nolcTLSCertificateFile: /etc/ldap/ssl/certs/" in \
        plan.ldap.ldif(plan.ldap.new)
    assert preflight(host, plan).ok


def test_tomcat_keystore_opens_with_the_config_password(root: Path, ca: TestCA) -> None:
    host = LocalHost(root=root)
    target = SlotTarget(host="h", kind=ServiceKind.TOMCAT, slot_id="tomcat:8443-rsa",
                        config="/etc/tomcat10/server.xml", user="tomcat", group="tomcat",
                        names=("www2.example.com",), keystore="/etc/tomcat10/ssl/private/x.jks",
                        keystore_type="JKS", key_alias="tomcat", password="changeit")
    plan = plan_slot(host, target, ca.material("www2", ("www2.example.com",)),
                     spec_for(ServiceKind.TOMCAT), ServiceControl(host))
    (store,) = plan.files
    assert (store.spec.group, store.spec.mode) == ("tomcat", 0o640)
    bundle = load_bundle(store.data, "changeit", alias="tomcat")
    assert bundle.key is not None and bundle.format == "jks"


@pytest.mark.parametrize(("fault", "message"), [
    ({"mismatched": True}, "does not match the certificate"),
    ({"encrypted": True}, "is encrypted"),
])
def test_preflight_refuses_bad_keys(root: Path, ca: TestCA, fault: dict[str, bool],
                                    message: str) -> None:
    host = LocalHost(root=root)
    plan = plan_slot(host, apache_target(), ca.material("w", ("www.example.com",), **fault),
                     spec_for(ServiceKind.APACHE2), ServiceControl(host))
    report = preflight(host, plan)
    assert not report.ok and message in report.problems[0]


def test_preflight_names_and_trust(root: Path, ca: TestCA) -> None:
    host = LocalHost(root=root)
    other = ca.material("w", ("other.example.com",))
    plan = plan_slot(host, apache_target(), other, spec_for(ServiceKind.APACHE2),
                     ServiceControl(host))
    assert preflight(host, plan).problems == ("the certificate does not cover www.example.com",)
    plan = plan_slot(host, apache_target(names_from="host"), other,
                     spec_for(ServiceKind.APACHE2), ServiceControl(host))
    report = preflight(host, plan)
    assert report.ok and "not blocking" in report.warnings[0]
    untrusted = TestCA().material("w", ("www.example.com",))
    foreign = type(untrusted)(untrusted.definition, untrusted.cert, untrusted.key_pem,
                              untrusted.chain, ca.material("x", ("x.example",)).trusted)
    plan = plan_slot(host, apache_target(), foreign, spec_for(ServiceKind.APACHE2),
                     ServiceControl(host))
    assert "does not verify" in preflight(host, plan).problems[0]


def test_preflight_refuses_a_key_the_program_user_cannot_reach(root: Path, ca: TestCA) -> None:
    host = LocalHost(root=root)
    (root / "etc/ldap/ssl/private").mkdir(parents=True)
    target = SlotTarget(host="h", kind=ServiceKind.SLAPD, slot_id="slapd",
                        config="/etc/ldap/slapd.conf", user="openldap", group=None,
                        names=("ldap.example.com",), cert="/etc/ldap/ssl/certs/l.crt",
                        key="/etc/ldap/ssl/private/l.key")
    plan = plan_slot(host, target, ca.material("l", ("ldap.example.com",)),
                     spec_for(ServiceKind.SLAPD), ServiceControl(host))
    assert "openldap cannot read /etc/ldap/ssl/private/l.key (root:root 0600)" in \
        preflight(host, plan).problems


def test_unrecorded_setting_refuses_the_seed_layout(root: Path, ca: TestCA) -> None:
    host = LocalHost(root=root)
    with pytest.raises(PreflightFailed, match="did not record where its cert file is set"):
        plan_slot(host, apache_target(settings={}), ca.material("w", ("www.example.com",)),
                  spec_for(ServiceKind.APACHE2), ServiceControl(host))


@pytest.mark.parametrize(("style", "text", "ref", "expected"), [
    (EQUALS, "ssl_cert = </etc/ssl/a.pem # x\n", ("ssl_cert", 1),
     "ssl_cert = </new/path # x\n"),
    (EQUALS, "rsa_cert_file=/etc/ssl/a.pem\n", ("rsa_cert_file", 1),
     "rsa_cert_file=/new/path\n"),
    (EQUALS, "smtps inet n - y - - smtpd\n  -o smtpd_tls_cert_file=/a -o x=y\n",
     ("smtpd_tls_cert_file", 2), "smtps inet n - y - - smtpd\n  -o smtpd_tls_cert_file="
                                 "/new/path -o x=y\n"),
    (SPACE, 'SSLCertificateFile "/a b/c.pem"\n', ("SSLCertificateFile", 1),
     'SSLCertificateFile "/new/path"\n'),
    (NGINX_STYLE, "  ssl_certificate /a.pem;  # c\n", ("ssl_certificate", 1),
     "  ssl_certificate /new/path;  # c\n"),
    (XML_STYLE, '<Certificate type="RSA"\n   certificateKeystoreFile="conf/a.jks"/>\n',
     ("certificateKeystoreFile", 1),
     '<Certificate type="RSA"\n   certificateKeystoreFile="/new/path"/>\n'),
])
def test_edit_setting_changes_only_the_value(style: LineStyle, text: str, ref: tuple[str, int],
                                             expected: str) -> None:
    assert edit_setting(text, SettingRef("/c", ref[1], ref[0]), "/new/path", style) == expected


def test_edit_setting_refuses_a_moved_directive() -> None:
    with pytest.raises(ConfigError, match="line 1 no longer sets ssl_cert"):
        edit_setting("# ssl_cert moved\nssl_cert = </a\n", SettingRef("/c", 1, "ssl_cert"),
                     "/b", EQUALS)


def test_tomcat_configtest_severe_records_ignore_the_live_ports() -> None:
    from certmgr.programs.tomcat import _severe_records

    output = """\
Nov 27, 2026 1:39:05 AM org.apache.catalina.util.LifecycleBase handleSubClassException
SEVERE: Failed to initialize component [Connector["https-jsse-nio-198.18.1.6-8443"]]
org.apache.catalina.LifecycleException: Protocol handler initialization failed
Caused by: java.net.BindException: Address already in use
Nov 27, 2026 1:39:05 AM org.apache.catalina.startup.Catalina load
INFO: Server initialization in [748] milliseconds
27-Nov-2026 00:40:06.461 SEVERE [main] org.apache.tomcat.util.net.SSLUtilBase.getKeyManagers \
Keystore was tampered with, or password was incorrect
\tat java.base/sun.security.provider.JavaKeyStore.engineLoad(JavaKeyStore.java:794)
27-Nov-2026 00:40:06.470 INFO [main] org.apache.catalina.startup.Catalina.start Started
"""
    records = _severe_records(output)
    assert len(records) == 2
    assert "BindException" in records[0]
    assert "password was incorrect" in records[1] and "JavaKeyStore" in records[1]
    assert "Started" not in records[1]


def test_edit_setting_changes_one_value_of_a_list() -> None:
    text = "smtpd_tls_chain_files = /a.pem,/b.pem  # rsa, then ec\n"
    ref = SettingRef("/etc/postfix/main.cf", 1, "smtpd_tls_chain_files", 1)
    assert edit_setting(text, ref, "/new.pem", EQUALS) == \
        "smtpd_tls_chain_files = /a.pem,/new.pem  # rsa, then ec\n"
    with pytest.raises(ConfigError, match="no longer lists a file number 3"):
        edit_setting(text, SettingRef("/etc/postfix/main.cf", 1, "smtpd_tls_chain_files", 2),
                     "/new.pem", EQUALS)


def test_a_config_file_swapped_for_a_link_is_never_edited_from_the_link(
        root: Path, ca: TestCA) -> None:
    from certmgr.errors import HostError

    (root / "etc/shadow").write_text("root:$6$shadow-secret$:19000:0:99999:7:::\n")
    (root / "etc/shadow").chmod(0o600)
    conf = "/etc/apache2/sites-enabled/default-ssl.conf"
    host = SwapAfterLstat(root, conf)
    with pytest.raises(HostError, match="symbolic link"):
        plan_slot(host, apache_target(), ca.material("www.example.com", ("www.example.com",)),
                  spec_for(ServiceKind.APACHE2), ServiceControl(host))
    assert host.swapped
