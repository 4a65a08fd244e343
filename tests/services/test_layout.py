"""plan_layout: Table 1 files and the config edit, as values."""

from __future__ import annotations

from pathlib import Path

import pytest

from certmgr.deploy.layout_plan import plan_layout
from certmgr.errors import DiscoveryError
from certmgr.hosts.local import LocalHost
from certmgr.programs import ServiceKind, discover_host
from tests.services.treehelp import make_tree

TREES = Path(__file__).resolve().parent.parent / "fixtures" / "trees"


def test_apache_combined_file_gets_a_key_line(tmp_path: Path) -> None:
    conf = ("<VirtualHost *:443>\n    ServerName www.example.com\n    SSLEngine on\n"
            "    SSLCertificateFile /etc/ssl/private/combined.pem\n</VirtualHost>\n")
    host = make_tree(tmp_path, {"/etc/apache2/apache2.conf": conf})
    plan = plan_layout(host, discover_host(host), ServiceKind.APACHE2)
    assert plan.name == "www.example.com"
    assert [(f.spec.path, f.spec.mode) for f in plan.files if f.role == "key"] == [
        ("/etc/apache2/ssl/private/www.example.com.key", 0o600)]
    new = plan.edits[0].new.splitlines()
    assert new[3:5] == ["    SSLCertificateFile /etc/apache2/ssl/certs/www.example.com.crt",
                        "    SSLCertificateKeyFile /etc/apache2/ssl/private/www.example.com.key"]


def test_tomcat_keystore_on_shared_store(tmp_path: Path) -> None:
    xml = ('<Server><Service name="C">\n<Connector port="8443" SSLEnabled="true"\n'
           '   keystoreFile="/etc/ssl/private/tomcat.jks" keystorePass="changeit"/>\n'
           '</Service></Server>\n')
    host = make_tree(tmp_path, {"/etc/tomcat6/server.xml": xml,
                                "/etc/default/tomcat6": "TOMCAT6_USER=tomcat6\n"})
    plan = plan_layout(host, discover_host(host), ServiceKind.TOMCAT, name="www2.example.com")
    ks = next(f for f in plan.files if f.role == "keystore")
    assert (ks.spec.path, ks.spec.group, ks.spec.mode) == (
        "/etc/tomcat6/ssl/private/www2.example.com.jks", "tomcat6", 0o640)
    assert 'keystoreFile="/etc/tomcat6/ssl/private/www2.example.com.jks"' in plan.edits[0].new


def test_already_on_own_files_plans_nothing() -> None:
    host = LocalHost(TREES / "ubuntu904")
    plan = plan_layout(host, discover_host(host), ServiceKind.TOMCAT)
    assert plan.files == () and "already reads its own files" in plan.note


def test_symlinked_snakeoil_counts_as_shared() -> None:
    host = LocalHost(TREES / "debian12")
    plan = plan_layout(host, discover_host(host), ServiceKind.DOVECOT, name="pop.example.com")
    assert plan.edits[0].path == "/etc/dovecot/conf.d/10-ssl.conf"
    assert "ssl_key = </etc/dovecot/ssl/private/pop.example.com.key" in plan.edits[0].new


def test_missing_service_or_slot() -> None:
    host = LocalHost(TREES / "debian12")
    discovery = discover_host(host)
    with pytest.raises(DiscoveryError, match="no TLS slot"):
        plan_layout(host, discovery, ServiceKind.SLAPD)
    seed = LocalHost(TREES / "ubuntu904")
    with pytest.raises(DiscoveryError, match="no haproxy"):
        plan_layout(seed, discover_host(seed), ServiceKind.HAPROXY)
    with pytest.raises(DiscoveryError, match="no slot"):
        plan_layout(host, discovery, ServiceKind.APACHE2, slot_id="apache2:nope")


def test_haproxy_gets_one_combined_pem() -> None:
    host = LocalHost(TREES / "debian12")
    plan = plan_layout(host, discover_host(host), ServiceKind.HAPROXY, name="www.example.com")
    combined = [f for f in plan.files if f.role == "combined"]
    assert [(f.spec.path, f.spec.mode) for f in combined] == [
        ("/etc/haproxy/ssl/private/www.example.com.pem", 0o600)]
    assert "crt /etc/haproxy/ssl/private/www.example.com.pem alpn" in plan.edits[0].new
