"""Discovery reads each program's grammar as the program does (fixture tree ``grammar``).

The tree holds the forms each program's manual allows (continuation lines,
quoting, escapes, comments, includes, conditional blocks, dual-stack listeners,
postscreen). The tests below check what discovery reads; where the program's
own tool is installed, the same configuration (moved under a temporary
directory, with real certificate files) is given to it, and what the tool
reads is compared with what discovery reads.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from certmgr.hosts.local import LocalHost
from certmgr.lab.certs import self_signed
from certmgr.programs import Discovery, ServiceKind, Slot, discover_host
from certmgr.programs.haproxy.discovery import parse_haproxy
from certmgr.programs.slapd.discovery import parse_ldif
from certmgr.testing import skip_or_fail
from tests.services.treehelp import discover

TREE = Path(__file__).resolve().parent.parent / "fixtures" / "trees" / "grammar"


@pytest.fixture(scope="module")
def found() -> Discovery:
    result = discover_host(LocalHost(TREE))
    assert result.findings == ()
    return result


def _slots(found: Discovery, kind: ServiceKind) -> dict[str, Slot]:
    service = found.service(kind)
    assert service is not None
    return {slot.id: slot for slot in service.slots}


def _where(slot: Slot) -> list[str]:
    return [f"{e.address}:{e.port}" for e in slot.endpoints]


# -- what discovery reads ------------------------------------------------------------


def test_haproxy_dual_stack_pair_is_one_slot(found: Discovery) -> None:
    slots = _slots(found, ServiceKind.HAPROXY)
    web = slots["haproxy:web"]
    assert _where(web) == ["*:443", ":::443", "192.0.2.10:8443", "198.51.100.10:8443"]
    assert web.cert == web.key == "/etc/haproxy/certs/web.pem"
    # every bind line naming the file is a place a new path must be written
    assert web.settings["cert"].line == 16
    assert [a["cert"].line for a in web.also] == [17, 19]


def test_haproxy_quoting_escapes_environment_and_if_blocks(found: Discovery) -> None:
    slots = _slots(found, ServiceKind.HAPROXY)
    assert {s.cert for s in slots.values()} == {
        "/etc/haproxy/certs/web.pem", "/etc/haproxy/certs/my site.pem",
        "/etc/haproxy/certs/hash#1.pem", "/etc/haproxy/certs/env.pem"}
    # "my site.pem" quoted on one bind and escaped on the next: one credential
    assert _where(slots["haproxy:quoted:9443"]) == ["127.0.0.1:9443", "127.0.0.1:9444"]


def test_nginx_server_blocks_per_address_family_are_one_slot(found: Discovery) -> None:
    slots = _slots(found, ServiceKind.NGINX)
    www = slots["nginx:www.example.org"]
    assert _where(www) == ["*:443", ":::443"]
    assert [a["cert"].line for a in www.also] == [11]
    api = slots["nginx:api.example.org"]
    assert _where(api) == ["192.0.2.10:8443", "198.51.100.10:8443", "*:9443"]
    assert api.cert == api.key == "/etc/nginx/tls/api cert.pem"


def test_apache_listens_vhosts_and_continuations(found: Discovery) -> None:
    slots = _slots(found, ServiceKind.APACHE2)
    assert set(slots) == {"apache2:www.example.org", "apache2:shop.example.org"}
    www = slots["apache2:www.example.org"]
    assert _where(www) == ["*:443", ":::443"]
    assert www.cert == "/etc/apache2/tls/www.example.org.crt"
    assert www.key == "/etc/apache2/tls/private keys/www.example.org.key"
    shop = slots["apache2:shop.example.org"]
    assert _where(shop) == ["0.0.0.0:8443", ":::8443"]
    # joined in place, and the commented-out line after "\" is not read
    assert shop.cert == "/etc/apache2/tls/shop.example.org.crt"


def test_slapd_conf_continuation_quoting_and_include(found: Discovery) -> None:
    [slot] = _slots(found, ServiceKind.SLAPD).values()
    assert slot.cert == "/etc/ldap/tls/ldap.example.org.crt"
    assert slot.key == "/etc/ldap/tls/private keys/ldap.example.org.key"
    assert slot.ca == "/etc/ldap/tls/ca.pem"
    assert slot.settings["cert"].path == "/etc/ldap/tls.conf"
    assert (slot.settings["cert"].line, slot.settings["key"].line) == (5, 7)


def test_postfix_postscreen_and_master_cf_forms(found: Discovery) -> None:
    slots = _slots(found, ServiceKind.POSTFIX)
    assert set(slots) == {"postfix", "postfix:submission"}
    main = slots["postfix"]
    assert [(e.port, e.tls.value) for e in main.endpoints] == [(25, "starttls-smtp"),
                                                              (465, "direct")]
    assert main.cert == "/etc/postfix/tls/mail.example.org.crt"
    assert main.key == "/etc/postfix/tls/mail.example.org.key"
    sub = slots["postfix:submission"]
    assert (sub.cert, sub.key) == ("/etc/postfix/tls/submission.crt",
                                   "/etc/postfix/tls/submission.key")
    assert [(e.port, e.tls.value) for e in sub.endpoints] == [(587, "starttls-smtp")]
    # the override is set where its name is: line 13 for the long form over two lines
    assert (sub.settings["cert"].line, sub.settings["key"].line) == (13, 15)


def test_dovecot_comments_continuations_quotes_and_relative_files(found: Discovery) -> None:
    slots = _slots(found, ServiceKind.DOVECOT)
    top = slots["dovecot"]
    assert (top.cert, top.key, top.ca) == ("/etc/dovecot/tls/mail.example.org.crt",
                                           "/etc/dovecot/tls/mail.example.org.key",
                                           "/etc/dovecot/tls/ca.pem")
    assert top.password == "pass#word"
    assert sorted(e.port for e in top.endpoints) == [110, 143, 993, 995]
    assert slots["dovecot:imap.example.org"].names == ("imap.example.org",)


def test_tomcat_entity_and_character_references(found: Discovery) -> None:
    [slot] = _slots(found, ServiceKind.TOMCAT).values()
    assert slot.keystore == "/var/lib/tomcat10/conf/tomcat.example.org.p12"
    assert slot.password == 's&cr"t!'


def test_vsftpd_indented_name(found: Discovery) -> None:
    [slot] = _slots(found, ServiceKind.VSFTPD).values()
    assert (slot.cert, slot.key) == ("/etc/vsftpd/tls/ftp.example.org.crt",
                                     "/etc/vsftpd/tls/ftp.example.org.key")


# -- what the programs' own tools read -----------------------------------------------


def _tool(name: str) -> str:
    path = shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        skip_or_fail(f"{name} is not installed (run .ci/install-packages as root)")
    if os.geteuid() != 0:
        pytest.skip(f"{name} reads the configuration as root only")
    return str(path)


def _moved(tmp_path: Path, found: Discovery, kind: ServiceKind, top: str) -> Path:
    """The tree's ``top`` files under ``tmp_path`` (``/etc/`` rewritten), with real PEM
    files (a first line naming the file, then a certificate and its key) wherever
    discovery says the program reads one."""
    for source in (TREE / top.lstrip("/")).rglob("*") if (TREE / top.lstrip("/")).is_dir() \
            else [TREE / top.lstrip("/")]:
        if source.is_file():
            target = tmp_path / source.relative_to(TREE)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(source.read_text().replace("/etc/", f"{tmp_path}/etc/"))
    pair = self_signed("grammar.example.org")
    for slot in _slots(found, kind).values():
        for _role, path in slot.files():
            target = tmp_path / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.encode() + b"\n" + pair.cert_pem + pair.key_pem)
    return tmp_path / top.lstrip("/")


def _run(argv: list[str], **env: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, **env})
    assert done.returncode == 0, f"{argv[0]}: {done.stdout}{done.stderr}"
    return done.stdout


def test_slaptest_reads_the_files_discovery_reads(tmp_path: Path, found: Discovery) -> None:
    slaptest = _tool("slaptest")
    conf = _moved(tmp_path, found, ServiceKind.SLAPD, "/etc/ldap")
    out = tmp_path / "slapd.d"
    out.mkdir()
    _run([slaptest, "-f", str(conf / "slapd.conf"), "-F", str(out)])
    ldif = (out / "cn=config.ldif").read_text()
    [entry] = [e for e in parse_ldif(ldif, "cn=config.ldif") if "olctlscertificatefile" in e]
    [slot] = _slots(found, ServiceKind.SLAPD).values()
    files = {k: v[0][0] for k, v in entry.items() if k.startswith("olctls") and k.endswith("file")}
    assert files == {
        "olctlscertificatefile": f"{tmp_path}{slot.cert}",
        "olctlscertificatekeyfile": f"{tmp_path}{slot.key}",
        "olctlscacertificatefile": f"{tmp_path}{slot.ca}"}


def test_postconf_reads_the_values_discovery_reads(found: Discovery) -> None:
    postconf = _tool("postconf")
    confdir = str(TREE / "etc/postfix")
    slots = _slots(found, ServiceKind.POSTFIX)
    assert _run([postconf, "-c", confdir, "-x", "-h", "smtpd_tls_cert_file",
                 "smtpd_tls_key_file"]).split() == [slots["postfix"].cert,
                                                    slots["postfix"].key]
    overrides = _run([postconf, "-c", confdir, "-P"])
    assert f"submission/inet/smtpd_tls_cert_file = {slots['postfix:submission'].cert}" \
        in overrides.splitlines()
    assert f"submission/inet/smtpd_tls_key_file = {slots['postfix:submission'].key}" \
        in overrides.splitlines()
    services = [line.split()[:3] for line in _run([postconf, "-c", confdir, "-M"]).splitlines()]
    assert ["smtp", "inet", "n"] in services and ["smtpd", "pass", "-"] in services
    assert not any(s[0] == "2525" for s in services)


def test_haproxy_c_accepts_the_tree(tmp_path: Path, found: Discovery) -> None:
    haproxy = _tool("haproxy")
    conf = _moved(tmp_path, found, ServiceKind.HAPROXY, "/etc/haproxy")
    # never.pem (in a ".if 0" block) does not exist: haproxy -c passes only if skipped
    _run([haproxy, "-c", "-f", str(conf / "haproxy.cfg")],
         CERTS=f"{tmp_path}/etc/haproxy/certs")


def test_nginx_t_accepts_the_tree(tmp_path: Path, found: Discovery) -> None:
    nginx = _tool("nginx")
    unshare, ip = _tool("unshare"), _tool("ip")
    conf = _moved(tmp_path, found, ServiceKind.NGINX, "/etc/nginx")
    # nginx -t binds the listeners: in a network namespace of its own, where the
    # documentation addresses the tree listens on are on the loopback interface.
    _run([unshare, "-n", "sh", "-euc",
          f'{ip} link set lo up; {ip} addr add 192.0.2.10/32 dev lo; '
          f'{ip} addr add 198.51.100.10/32 dev lo; exec "$@"', "nginx-t",
          nginx, "-t", "-q", "-e", "stderr", "-c", str(conf / "nginx.conf")])


def test_apache2_t_accepts_the_tree(tmp_path: Path, found: Discovery) -> None:
    apache2 = _tool("apache2")
    conf = _moved(tmp_path, found, ServiceKind.APACHE2, "/etc/apache2")
    # never.crt (on a comment's continuation line) does not exist: -t passes only if
    # Apache, like discovery, reads that line as part of the comment.
    out = _run([apache2, "-t", "-f", str(conf / "apache2.conf"), "-D", "DUMP_VHOSTS"])
    assert re.search(r"\*:443\s+www\.example\.org", out), out
    # the two shop vhosts (lines 26 and 36) answer on port 8443
    assert re.findall(r"port 8443 namevhost shop\.example\.org \(.*:(\d+)\)", out) == \
        ["26", "36"], out


def test_doveconf_reads_the_files_discovery_reads(tmp_path: Path, found: Discovery) -> None:
    doveconf = _tool("doveconf")
    conf = _moved(tmp_path, found, ServiceKind.DOVECOT, "/etc/dovecot") / "dovecot.conf"
    top = _slots(found, ServiceKind.DOVECOT)["dovecot"]
    for setting, path in (("ssl_cert", top.cert), ("ssl_key", top.key), ("ssl_ca", top.ca)):
        content = _run([doveconf, "-c", str(conf), "-x", "-h", setting])
        assert content.splitlines()[0] == path, setting
    assert _run([doveconf, "-c", str(conf), "-h", "protocols"]).split() == ["imap", "pop3"]


# -- forms that are easier to show on their own ---------------------------------------


def test_apache_iffile_is_decided_on_the_host(tmp_path: Path) -> None:
    conf = ('<IfFile "/etc/apache2/tls/www.crt">\n<VirtualHost *:443>\n'
            "  ServerName www.example.org\n  SSLEngine on\n"
            "  SSLCertificateFile /etc/apache2/tls/www.crt\n</VirtualHost>\n</IfFile>\n"
            "<IfFile !tls/www.crt>\n<VirtualHost *:443>\n  ServerName old.example.org\n"
            "  SSLEngine on\n  SSLCertificateFile /etc/ssl/certs/old.pem\n</VirtualHost>\n"
            "</IfFile>\n")
    result = discover(tmp_path, {"/etc/apache2/apache2.conf": conf,
                                 "/etc/apache2/tls/www.crt": "x"})
    assert [s.id for _svc, s in result.slots()] == ["apache2:www.example.org"]


def test_a_folded_ldif_comment_is_refused_as_slapd_refuses_it(tmp_path: Path) -> None:
    ldif = ("dn: cn=config\nobjectClass: olcGlobal\n# a comment folded onto\n"
            " olcTLSCertificateKeyFile: /etc/ldap/old.key\n"
            "olcTLSCertificateFile: /etc/ldap/tls.crt\n")
    result = discover(tmp_path, {"/etc/ldap/slapd.d/cn=config.ldif": ldif})
    assert [(f.code, f.line) for f in result.findings] == [("CONFIG_ERROR", 4)]
    assert "folded comment" in result.findings[0].message


def test_haproxy_if_elif_else_blocks_nest() -> None:
    cfg = ("frontend a\n.if 0\n  bind :1 ssl crt one.pem\n.elif 1\n  bind :2 ssl crt two.pem\n"
           "  .if 0\n  bind :3 ssl crt three.pem\n  .else\n  bind :4 ssl crt four.pem\n"
           "  .endif\n.else\n  bind :5 ssl crt five.pem\n.endif\n")
    [(_kw, _name, _line, lines)] = parse_haproxy(cfg, "haproxy.cfg")
    assert [words[1] for words, _n in lines] == [":2", ":4"]
