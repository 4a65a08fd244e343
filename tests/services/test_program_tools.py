"""Where the host can run the program's own tools, discovery asks them (postconf, apache2ctl)."""

from __future__ import annotations

from pathlib import Path

from certmgr.hosts.base import CommandResult
from certmgr.hosts.local import LocalHost
from certmgr.programs import ServiceKind, discover_host
from tests.services.treehelp import make_tree


class ScriptedHost(LocalHost):
    """A tree whose commands answer from a script: argv prefix -> stdout."""

    def __init__(self, root: Path, script: dict[tuple[str, ...], str]) -> None:
        super().__init__(root)
        self.can_run = True
        self.script = script
        self.ran: list[tuple[str, ...]] = []

    def which(self, program: str) -> str | None:
        return f"/usr/sbin/{program}" if any(k[0] == program for k in self.script) else None

    def run(self, argv: list[str], *, input: bytes | None = None, timeout: float = 60.0,
            check: bool = True) -> CommandResult:
        self.ran.append(tuple(argv))
        for prefix, out in self.script.items():
            if tuple(argv[:len(prefix)]) == prefix:
                return CommandResult(tuple(argv), 0, out, "")
        return CommandResult(tuple(argv), 1, "", f"{argv[0]}: not scripted")


def test_postconf_expands_parameters_as_postfix_does(tmp_path: Path) -> None:
    make_tree(tmp_path, {"/etc/postfix/main.cf": "smtpd_tls_cert_file = $mydir/c.crt\n",
                         "/etc/postfix/master.cf": "smtp inet n - y - - smtpd\n"})
    host = ScriptedHost(tmp_path, {("postconf",): (
        "smtpd_tls_cert_file = /srv/postfix/c.crt\nsmtpd_tls_security_level = may\n")})
    service = discover_host(host).service(ServiceKind.POSTFIX)
    assert service is not None
    assert service.slots[0].cert == "/srv/postfix/c.crt"
    assert ("postconf", "-c", "/etc/postfix", "-x", "-n") in host.ran


def test_apache2ctl_decides_ifmodule(tmp_path: Path) -> None:
    conf = ("LoadModule alias_module /usr/lib/apache2/modules/mod_alias.so\n"
            "<IfModule mod_ssl.c>\n<VirtualHost *:443>\n  ServerName a.example.com\n"
            "  SSLEngine on\n  SSLCertificateFile /etc/apache2/a.pem\n</VirtualHost>\n"
            "</IfModule>\n")
    make_tree(tmp_path, {"/etc/apache2/apache2.conf": conf})
    # Files only: the tree loads no mod_ssl, so the vhost is not there.
    plain = discover_host(LocalHost(tmp_path)).service(ServiceKind.APACHE2)
    assert plain is not None and plain.slots == ()
    # Apache itself says ssl_module is loaded (e.g. from a file the tree does not show).
    host = ScriptedHost(tmp_path, {
        ("apache2ctl", "-t", "-D", "DUMP_MODULES"): "Loaded Modules:\n core_module (static)\n"
                                                    " ssl_module (shared)\n",
        ("apache2ctl", "-t", "-D", "DUMP_RUN_CFG"): "ServerRoot: \"/etc/apache2\"\n"})
    service = discover_host(host).service(ServiceKind.APACHE2)
    assert service is not None
    assert [s.id for s in service.slots] == ["apache2:a.example.com"]


def test_doveconf_says_which_protocols_run(tmp_path: Path) -> None:
    # The protocols.d files live outside the tree: only doveconf knows pop3 is on.
    make_tree(tmp_path, {"/etc/dovecot/dovecot.conf":
                         "!include_try /usr/share/dovecot/protocols.d/*.protocol\n"
                         "ssl_cert = </etc/dovecot/c.pem\nssl_key = </etc/dovecot/k.pem\n"})
    host = ScriptedHost(tmp_path, {("doveconf",): " pop3\n"})
    service = discover_host(host).service(ServiceKind.DOVECOT)
    assert service is not None
    assert sorted(e.port for e in service.slots[0].endpoints) == [110, 995]
