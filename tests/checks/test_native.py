"""The programs' own config tests: their complaints become CONFIG_ERROR with file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from certmgr.checks.native import native_config_errors, parse_output
from certmgr.hosts.local import LocalHost
from certmgr.programs import Service, ServiceKind
from certmgr.testing import skip_or_fail

SAMPLES = {
    ServiceKind.APACHE2: (
        "AH00526: Syntax error on line 7 of /etc/apache2/sites-enabled/a.conf:\n"
        "Invalid command 'FooBar', perhaps misspelled or defined by a module not included in "
        "the server configuration\nAction '-t' failed.\n",
        ("/etc/apache2/sites-enabled/a.conf", 7, "Invalid command 'FooBar'")),
    ServiceKind.NGINX: (
        '2026/11/27 00:48:47 [emerg] 8582#8582: unknown directive "listne" in '
        "/etc/nginx/nginx.conf:4\nnginx: configuration file /etc/nginx/nginx.conf test failed\n",
        ("/etc/nginx/nginx.conf", 4, 'unknown directive "listne"')),
    ServiceKind.DOVECOT: (
        "doveconf: Fatal: Error in configuration file /etc/dovecot/conf.d/10-ssl.conf line 2: "
        "Unknown setting: foo_bar\n",
        ("/etc/dovecot/conf.d/10-ssl.conf", 2, "Unknown setting: foo_bar")),
    ServiceKind.HAPROXY: (
        "[NOTICE]   (1) : haproxy version is 2.6.12\n[ALERT]    (1) : config : parsing "
        "[/etc/haproxy/haproxy.cfg:12] : unknown keyword 'bnd' in 'frontend' section\n",
        ("/etc/haproxy/haproxy.cfg", 12, "unknown keyword 'bnd'")),
}


@pytest.mark.parametrize("kind", list(SAMPLES))
def test_parse_output(kind: ServiceKind) -> None:
    output, (path, line, start) = SAMPLES[kind]
    [(got_path, got_line, message)] = parse_output(kind.spec.config_test_spec, output)
    assert (got_path, got_line) == (path, line)
    assert message.startswith(start)


def _needs(program: str) -> None:
    if shutil.which(program, path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
        skip_or_fail(f"{program} is not installed (run .ci/install-packages as root)")


def test_nginx_t_finds_an_unknown_directive(tmp_path: Path) -> None:
    _needs("nginx")
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\n  server {\n    listne 443;\n  }\n}\n")
    service = Service(ServiceKind.NGINX, str(conf), "root", ())
    [finding] = native_config_errors(LocalHost(), service)
    assert (finding.code, finding.path, finding.line) == ("CONFIG_ERROR", str(conf), 4)
    assert "listne" in finding.message


def test_doveconf_finds_an_unknown_setting(tmp_path: Path) -> None:
    _needs("doveconf")
    conf = tmp_path / "dovecot.conf"
    conf.write_text("protocols = imap\nfoo_bar = 1\n")
    service = Service(ServiceKind.DOVECOT, str(conf), "root", ())
    [finding] = native_config_errors(LocalHost(), service)
    assert (finding.path, finding.line) == (str(conf), 2)


def test_files_only_host_runs_nothing(tmp_path: Path) -> None:
    service = Service(ServiceKind.NGINX, "/etc/nginx/nginx.conf", "root", ())
    assert native_config_errors(LocalHost(tmp_path), service) == []
