"""Discovery of whole fixture trees: the seed's Ubuntu 9.04 and today's Debian 12."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from certmgr.hosts.local import LocalHost
from certmgr.programs import PROGRAMS, ServiceAdapter, discover_host

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.mark.parametrize("tree", ["debian12", "ubuntu904", "grammar"])
def test_discovery_matches_expected_output(tree: str) -> None:
    expected = json.loads((FIXTURES / "expected" / f"{tree}.json").read_text())
    result = discover_host(LocalHost(FIXTURES / "trees" / tree))
    assert result.findings == ()
    assert result.to_json()["services"] == expected


def test_seed_tree_reads_table_2_ports_and_users() -> None:
    result = discover_host(LocalHost(FIXTURES / "trees" / "ubuntu904"))
    ports = {(s.kind.value, e.port, e.tls.value) for s in result.services for sl in s.slots
             for e in sl.endpoints}
    # Table 2 of the seed: every TLS port with its mode.
    assert {("slapd", 389, "starttls-ldap"), ("slapd", 636, "direct"),
            ("apache2", 443, "direct"), ("vsftpd", 21, "starttls-ftp"),
            ("postfix", 25, "starttls-smtp"), ("postfix", 587, "starttls-smtp"),
            ("dovecot", 110, "starttls-pop3"), ("dovecot", 995, "direct"),
            ("dovecot", 143, "starttls-imap"), ("dovecot", 993, "direct"),
            ("tomcat", 8443, "direct")} <= ports
    users = {s.kind.value: s.user for s in result.services}
    assert users["slapd"] == "openldap" and users["tomcat"] == "tomcat6"
    assert users["apache2"] == "root"


def test_slot_ids_are_stable_when_slots_are_added(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "t"
    shutil.copytree(FIXTURES / "trees" / "debian12", root, symlinks=True)
    before = {sl.id for _s, sl in discover_host(LocalHost(root)).slots()}
    site = root / "etc/apache2/sites-available/shop.conf"
    site.write_text("<VirtualHost *:443>\n  ServerName shop.example.com\n  SSLEngine on\n"
                    "  SSLCertificateFile /etc/ssl/certs/shop.pem\n</VirtualHost>\n")
    (root / "etc/apache2/sites-enabled/shop.conf").symlink_to("../sites-available/shop.conf")
    after = {sl.id for _s, sl in discover_host(LocalHost(root)).slots()}
    assert after == before | {"apache2:shop.example.com"}


def test_every_adapter_follows_the_protocol() -> None:
    adapters = [spec.adapter for spec in PROGRAMS]
    assert sorted(a.name for a in adapters) == sorted(
        ["slapd", "apache2", "vsftpd", "postfix", "dovecot", "tomcat", "nginx", "haproxy",
         "exim4"])
    assert all(isinstance(a, ServiceAdapter) for a in adapters)
