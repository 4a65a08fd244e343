"""Bad configurations give CONFIG_ERROR with file and line: never a crash, never a hang."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from certmgr.hosts.local import LocalHost
from certmgr.programs import discover_host
from tests.services.treehelp import discover

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def errors(result: object) -> list[tuple[str | None, str | None, int | None]]:
    return [(f.service, f.path, f.line) for f in result.findings  # type: ignore[attr-defined]
            if f.code == "CONFIG_ERROR"]


def test_one_broken_config_per_program() -> None:
    result = discover_host(LocalHost(FIXTURES / "trees" / "broken-configs"))
    assert sorted(errors(result), key=str) == sorted([
        ("slapd", "/etc/ldap/slapd.d/cn=config.ldif", 3),
        ("apache2", "/etc/apache2/loop.conf", 2),        # include cycle, at the include
        ("vsftpd", "/etc/vsftpd.conf", 2),
        ("postfix", "/etc/postfix/main.cf", 2),
        ("dovecot", "/etc/dovecot/dovecot.conf", 2),      # unbalanced block, where it opens
        ("tomcat", "/etc/tomcat10/server.xml", 4),
        ("nginx", "/etc/nginx/nginx.conf", 5),            # unknown directive
        ("haproxy", "/etc/haproxy/haproxy.cfg", 1),
    ], key=str)
    # Every program is still reported, with whatever could be read.
    assert len(result.services) == 8


def test_binary_config(tmp_path: Path) -> None:
    result = discover(tmp_path, {"/etc/vsftpd.conf": b"listen=YES\nssl_enable=YES\n\x00\x01\x02"})
    assert errors(result) == [("vsftpd", "/etc/vsftpd.conf", 3)]


def test_huge_config_is_not_read_whole(tmp_path: Path) -> None:
    host = LocalHost(tmp_path)
    (tmp_path / "etc/nginx").mkdir(parents=True)
    with (tmp_path / "etc/nginx/nginx.conf").open("wb") as fh:
        fh.truncate(100 * 1024 * 1024)  # sparse: 100 MB of NUL bytes
    result = discover_host(host)
    assert [(f.service, f.path) for f in result.findings] == [("nginx", "/etc/nginx/nginx.conf")]
    assert "larger than" in result.findings[0].message


def test_dangling_include(tmp_path: Path) -> None:
    (tmp_path / "etc/apache2").mkdir(parents=True)
    (tmp_path / "etc/apache2/a.conf").symlink_to("/nowhere/a.conf")
    result = discover(tmp_path, {
        "/etc/apache2/apache2.conf": "ServerRoot /etc/apache2\n\nInclude a.conf\n"})
    assert errors(result) == [("apache2", "/etc/apache2/apache2.conf", 3)]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_permission_denied(tmp_path: Path) -> None:
    result = discover(tmp_path, {"/etc/postfix/main.cf": "myhostname = a\n"})
    (tmp_path / "etc/postfix/main.cf").chmod(0)
    try:
        result = discover_host(LocalHost(tmp_path))
    finally:
        (tmp_path / "etc/postfix/main.cf").chmod(0o644)
    assert errors(result) == [("postfix", "/etc/postfix/main.cf", None)]


def test_include_depth_is_capped(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        f"/etc/dovecot/d{i}.conf": f"!include d{i + 1}.conf\n" for i in range(40)}
    files["/etc/dovecot/d40.conf"] = "ssl = no\n"
    files["/etc/dovecot/dovecot.conf"] = "!include d0.conf\n"
    result = discover(tmp_path, files)
    assert len(errors(result)) == 1 and "deeper than" in result.findings[0].message


def test_glob_include_of_itself_in_nginx(tmp_path: Path) -> None:
    result = discover(tmp_path, {"/etc/nginx/nginx.conf": "events {}\ninclude *.conf;\n"})
    assert errors(result) == [("nginx", "/etc/nginx/nginx.conf", 2)]
    assert "cycle" in result.findings[0].message


def test_apache_mismatched_close_tag(tmp_path: Path) -> None:
    conf = "<VirtualHost *:443>\n  SSLEngine on\n</IfModule>\n"
    result = discover(tmp_path, {"/etc/apache2/apache2.conf": conf})
    assert errors(result) == [("apache2", "/etc/apache2/apache2.conf", 3)]


def test_xml_entities_are_refused(tmp_path: Path) -> None:
    xml = ('<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
           '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n<Server>&b;</Server>\n')
    result = discover(tmp_path, {"/etc/tomcat9/server.xml": xml})
    assert errors(result)[0][:2] == ("tomcat", "/etc/tomcat9/server.xml")
