"""One layout decision: ``certmgr layout`` and deploy plan the same files and edits."""

from __future__ import annotations

from pathlib import Path

import pytest

from certmgr.deploy.configedit import insert_setting
from certmgr.deploy.control import ServiceControl
from certmgr.deploy.layout import decide_layout, plan_slot
from certmgr.deploy.layout_plan import plan_layout
from certmgr.deploy.model import SettingRef, SlotTarget
from certmgr.deploy.targets import slot_targets
from certmgr.errors import ConfigError, PreflightFailed
from certmgr.hosts.local import LocalHost
from certmgr.pki import load_bundle
from certmgr.programs import ServiceKind, discover_host, spec_for
from tests.deploy.material import TestCA
from tests.services.treehelp import make_tree

TREES = Path(__file__).resolve().parents[1] / "fixtures" / "trees"
NAME = "n.example"


def _targets(host: LocalHost) -> dict[str, SlotTarget]:
    return {t.slot_id: t for t in slot_targets("h", discover_host(host).slots())}


@pytest.mark.parametrize("tree", ["debian12", "ubuntu904"])
def test_layout_shows_what_deploy_does(tree: str, ca: TestCA) -> None:
    host = LocalHost(TREES / tree)
    discovery = discover_host(host)
    compared = 0
    for service, slot in discovery.slots():
        shown = plan_layout(host, discovery, service.kind, slot_id=slot.id, name=NAME)
        target = _targets(host)[slot.id]
        plan = plan_slot(host, target, ca.material(NAME, target.names or (NAME,)),
                         spec_for(service.kind), ServiceControl(host))
        if plan.layout == "in-place":
            assert shown.files == () and "already reads its own files" in shown.note
            continue
        compared += 1
        specs = {f.spec.path: f.spec for f in shown.files}
        assert specs == {s.path: s for s in (*plan.dirs, *(f.spec for f in plan.files))}
        if plan.ldap is not None:
            (edit,) = shown.edits
            assert edit.ldif == plan.ldap.ldif(plan.ldap.new).decode()
        else:
            assert [(e.path, e.new) for e in shown.edits] == \
                [(e.spec.path, e.new.decode()) for e in plan.edits]
    assert compared >= 5  # the snakeoil users of each tree really were compared


def test_deploy_adds_the_key_line_a_combined_apache_file_lacks(tmp_path: Path,
                                                               ca: TestCA) -> None:
    conf = ("<VirtualHost *:443>\n    ServerName www.example.com\n    SSLEngine on\n"
            "    SSLCertificateFile /etc/ssl/private/combined.pem\n</VirtualHost>\n")
    host = make_tree(tmp_path, {"/etc/apache2/apache2.conf": conf})
    (target,) = _targets(host).values()
    plan = plan_slot(host, target, ca.material("www", ("www.example.com",)),
                     spec_for(ServiceKind.APACHE2), ServiceControl(host))
    assert {f.role: f.spec.path for f in plan.files} == {
        "cert": "/etc/apache2/ssl/certs/www.crt", "key": "/etc/apache2/ssl/private/www.key"}
    (edit,) = plan.edits
    assert edit.new.decode().splitlines()[3:5] == [
        "    SSLCertificateFile /etc/apache2/ssl/certs/www.crt",
        "    SSLCertificateKeyFile /etc/apache2/ssl/private/www.key"]


def test_haproxy_deploys_one_combined_file(ca: TestCA) -> None:
    host = LocalHost(TREES / "debian12")
    target = _targets(host)["haproxy:www"]
    plan = plan_slot(host, target, ca.material(NAME, target.names),
                     spec_for(ServiceKind.HAPROXY), ServiceControl(host))
    (combined,) = plan.files
    assert (combined.spec.path, combined.spec.mode, combined.secret) == (
        f"/etc/haproxy/ssl/private/{NAME}.pem", 0o600, True)
    bundle = load_bundle(combined.data)
    assert len(bundle.certificates) == 2 and bundle.key is not None
    (edit,) = plan.edits
    assert f"ssl crt /etc/haproxy/ssl/private/{NAME}.pem alpn" in edit.new.decode()


def test_a_link_into_the_shared_store_is_not_written_through(ca: TestCA) -> None:
    host = LocalHost(TREES / "debian12")
    target = _targets(host)["dovecot"]
    assert not target.shared  # only dovecot reads /etc/dovecot/private/dovecot.pem ...
    assert host.realpath(target.cert or "").startswith("/etc/ssl/")  # ... a link to snakeoil
    plan = plan_slot(host, target, ca.material(NAME, target.names),
                     spec_for(ServiceKind.DOVECOT), ServiceControl(host))
    assert plan.layout == "seed"
    assert f"{target.cert} is in the machine-wide certificate store" in plan.notes[0]


def test_slapd_conf_gets_the_trusted_ca_line_it_lacks(tmp_path: Path) -> None:
    conf = ("# TLS\nTLSCertificateFile /etc/ssl/certs/ssl-cert-snakeoil.pem\n"
            "TLSCertificateKeyFile /etc/ssl/private/ssl-cert-snakeoil.key\n")
    host = make_tree(tmp_path, {"/etc/ldap/slapd.conf": conf})
    target = SlotTarget(host="h", kind=ServiceKind.SLAPD, slot_id="slapd",
                        config="/etc/ldap/slapd.conf", user="openldap", group="openldap",
                        cert="/etc/ssl/certs/ssl-cert-snakeoil.pem",
                        key="/etc/ssl/private/ssl-cert-snakeoil.key",
                        settings={"cert": SettingRef("/etc/ldap/slapd.conf", 2,
                                                     "TLSCertificateFile"),
                                  "key": SettingRef("/etc/ldap/slapd.conf", 3,
                                                    "TLSCertificateKeyFile")})
    decided = decide_layout(host, target, spec_for(ServiceKind.SLAPD), "ldap")
    assert decided.ldap is None
    assert decided.paths["ca"] == "/etc/ldap/ssl/certs/trusted-ca.crt"
    (edit,) = decided.edits
    assert edit.new.decode() == (
        "# TLS\nTLSCertificateFile /etc/ldap/ssl/certs/ldap.crt\n"
        "TLSCACertificateFile /etc/ldap/ssl/certs/trusted-ca.crt\n"
        "TLSCertificateKeyFile /etc/ldap/ssl/private/ldap.key\n")


def test_insert_setting_keeps_indentation_and_line_ends() -> None:
    text = "a\r\n\tssl_cert = </x\r\nb\r\n"
    assert insert_setting(text, SettingRef("/c", 2, "ssl_cert"), ["ssl_key = </k"]) == \
        "a\r\n\tssl_cert = </x\r\n\tssl_key = </k\r\nb\r\n"


def test_insert_setting_refuses_a_setting_inside_another_line() -> None:
    master = "smtps inet n - y - - smtpd -o smtpd_tls_cert_file=/a\n"
    with pytest.raises(ConfigError, match="line 1: a setting cannot be added"):
        insert_setting(master, SettingRef("/etc/postfix/master.cf", 1,
                                          "-o smtpd_tls_cert_file"),
                       ["-o smtpd_tls_key_file=/k"])


MASTER_CF = ("smtp      inet  n       -       y       -       -       smtpd\n"
             "submission inet n       -       y       -       -       smtpd\n"
             "  -o smtpd_tls_security_level=encrypt\n"
             "  -o smtpd_tls_cert_file=/etc/ssl/certs/sub.pem\n")


def test_postfix_service_override_gets_its_key_as_an_override(tmp_path: Path,
                                                              ca: TestCA) -> None:
    host = make_tree(tmp_path, {
        "/etc/postfix/main.cf": "smtpd_tls_cert_file = /etc/postfix/own/c.pem\n"
                                "smtpd_tls_key_file = /etc/postfix/own/c.key\n",
        "/etc/postfix/master.cf": MASTER_CF})
    target = _targets(host)["postfix:submission"]
    plan = plan_slot(host, target, ca.material("mail", ("mail.example.com",)),
                     spec_for(ServiceKind.POSTFIX), ServiceControl(host))
    (edit,) = plan.edits
    assert edit.new.decode().splitlines()[3:] == [
        "  -o smtpd_tls_cert_file=/etc/postfix/ssl/certs/mail.crt",
        "  -o smtpd_tls_key_file=/etc/postfix/ssl/private/mail.key"]


def test_postfix_chain_files_stay_one_file_with_the_key_first(tmp_path: Path,
                                                              ca: TestCA) -> None:
    host = make_tree(tmp_path, {
        "/etc/postfix/main.cf": "smtpd_tls_chain_files = /etc/ssl/private/combined.pem\n"})
    target = _targets(host)["postfix"]
    material = ca.material("mail", ("mail.example.com",))
    plan = plan_slot(host, target, material, spec_for(ServiceKind.POSTFIX),
                     ServiceControl(host))
    (combined,) = plan.files
    assert (combined.spec.path, combined.spec.mode) == ("/etc/postfix/ssl/private/mail.pem",
                                                        0o600)
    assert combined.data.startswith(material.key_pem)
    assert len(load_bundle(combined.data).certificates) == 2
    (edit,) = plan.edits
    assert edit.new == b"smtpd_tls_chain_files = /etc/postfix/ssl/private/mail.pem\n"


def test_a_file_two_programs_read_is_shared_outside_etc_ssl_too(tmp_path: Path,
                                                                ca: TestCA) -> None:
    pair = "/srv/tls/www.pem", "/srv/tls/www.key"
    host = make_tree(tmp_path, {
        "/etc/apache2/apache2.conf": (
            "<VirtualHost *:443>\n    ServerName www.example.com\n    SSLEngine on\n"
            f"    SSLCertificateFile {pair[0]}\n    SSLCertificateKeyFile {pair[1]}\n"
            "</VirtualHost>\n"),
        "/etc/nginx/nginx.conf": (
            "events {}\nhttp {\n  server {\n    listen 443 ssl;\n"
            "    server_name www.example.com;\n"
            f"    ssl_certificate {pair[0]};\n    ssl_certificate_key {pair[1]};\n  }}\n}}\n")})
    discovery = discover_host(host)
    shown = plan_layout(host, discovery, ServiceKind.NGINX, name="www")
    assert [f.spec.path for f in shown.files if f.role != "dir"] == [
        "/etc/nginx/ssl/certs/www.crt", "/etc/nginx/ssl/private/www.key"]
    target = next(t for t in _targets(host).values() if t.kind is ServiceKind.NGINX)
    plan = plan_slot(host, target, ca.material("www", ("www.example.com",)),
                     spec_for(ServiceKind.NGINX), ServiceControl(host))
    assert plan.layout == "seed" and plan.notes == tuple(
        f"{p} is shared with other programs: nginx gets its own copies" for p in pair)
    assert [(e.path, e.new) for e in shown.edits] == \
        [(e.spec.path, e.new.decode()) for e in plan.edits]


def _nginx_sites(tmp_path: Path, sites: dict[str, str]) -> LocalHost:
    files = {"/etc/nginx/nginx.conf":
                 "events {}\nhttp {\n    include /etc/nginx/sites-enabled/*;\n}\n",
             "/etc/nginx/snippets/snakeoil.conf":
                 "ssl_certificate /etc/ssl/certs/ssl-cert-snakeoil.pem;\n"
                 "ssl_certificate_key /etc/ssl/private/ssl-cert-snakeoil.key;\n"}
    for name, server_name in sites.items():
        files[f"/etc/nginx/sites-enabled/{name}"] = (
            f"server {{\n    listen 443 ssl;\n    server_name {server_name};\n"
            "    include snippets/snakeoil.conf;\n}\n")
    return make_tree(tmp_path, files)


def test_a_snippet_two_sites_include_is_not_edited_for_one(tmp_path: Path, ca: TestCA) -> None:
    host = _nginx_sites(tmp_path, {"a": "a.example.com", "b": "b.example.com"})
    targets = _targets(host)
    assert len(targets) == 2
    for target in targets.values():
        with pytest.raises(PreflightFailed) as raised:
            plan_slot(host, target, ca.material(NAME, target.names),
                      spec_for(ServiceKind.NGINX), ServiceControl(host))
        message = raised.value.message
        assert "/etc/nginx/snippets/snakeoil.conf line 1" in message
        assert "switch them too" in message and "nothing was changed" in message
        (other,) = set(targets) - {target.slot_id}
        assert other in message


def test_a_snippet_one_site_includes_is_edited(tmp_path: Path, ca: TestCA) -> None:
    host = _nginx_sites(tmp_path, {"a": "a.example.com"})
    (target,) = _targets(host).values()
    plan = plan_slot(host, target, ca.material(NAME, target.names),
                     spec_for(ServiceKind.NGINX), ServiceControl(host))
    (edit,) = plan.edits
    assert edit.spec.path == "/etc/nginx/snippets/snakeoil.conf"


def test_an_nginx_stream_server_is_planned_like_a_site(tmp_path: Path, ca: TestCA) -> None:
    host = make_tree(tmp_path, {
        "/etc/nginx/nginx.conf":
            "events {}\nstream {\n  server {\n    listen 993 ssl;\n"
            "    ssl_certificate /etc/ssl/certs/ssl-cert-snakeoil.pem;\n"
            "    ssl_certificate_key /etc/ssl/private/ssl-cert-snakeoil.key;\n"
            "    proxy_pass 127.0.0.1:143;\n  }\n}\n"})
    target = _targets(host)["nginx:stream:993"]
    plan = plan_slot(host, target, ca.material("imap.example.com", ("imap.example.com",)),
                     spec_for(ServiceKind.NGINX), ServiceControl(host))
    assert {f.role: f.spec.path for f in plan.files} == {
        "cert": "/etc/nginx/ssl/certs/imap.example.com.crt",
        "key": "/etc/nginx/ssl/private/imap.example.com.key"}
    (edit,) = plan.edits
    assert "    ssl_certificate /etc/nginx/ssl/certs/imap.example.com.crt;" in \
        edit.new.decode().splitlines()


def test_a_haproxy_crt_list_entry_on_shared_files_moves_by_editing_its_line(
        tmp_path: Path, ca: TestCA) -> None:
    host = make_tree(tmp_path, {
        "/etc/haproxy/haproxy.cfg": "frontend web\n  bind :443 ssl crt-list /etc/haproxy/list\n",
        "/etc/haproxy/list": ("# by name\n/etc/ssl/private/shop.pem [alpn h2] shop.example.com\n"
                              "/etc/haproxy/ssl/private/default.pem\n")})
    target = _targets(host)["haproxy:web:shop"]
    plan = plan_slot(host, target, ca.material("shop", ("shop.example.com",)),
                     spec_for(ServiceKind.HAPROXY), ServiceControl(host))
    assert [f.spec.path for f in plan.files] == ["/etc/haproxy/ssl/private/shop.pem"]
    (edit,) = plan.edits
    assert edit.spec.path == "/etc/haproxy/list"
    assert edit.new.decode().splitlines() == [
        "# by name", "/etc/haproxy/ssl/private/shop.pem [alpn h2] shop.example.com",
        "/etc/haproxy/ssl/private/default.pem"]


def test_the_second_apache_pair_moves_alone(tmp_path: Path, ca: TestCA) -> None:
    conf = ("<VirtualHost *:443>\n  ServerName www.example.com\n  SSLEngine on\n"
            "  SSLCertificateFile /etc/apache2/ssl/www-rsa.crt\n"
            "  SSLCertificateKeyFile /etc/apache2/ssl/www-rsa.key\n"
            "  SSLCertificateFile /etc/ssl/certs/ssl-cert-snakeoil.pem\n"
            "  SSLCertificateKeyFile /etc/ssl/private/ssl-cert-snakeoil.key\n</VirtualHost>\n")
    host = make_tree(tmp_path, {"/etc/apache2/apache2.conf": conf})
    target = _targets(host)["apache2:www.example.com:cert2"]
    plan = plan_slot(host, target, ca.material("www-ec", ("www.example.com",)),
                     spec_for(ServiceKind.APACHE2), ServiceControl(host))
    (edit,) = plan.edits
    assert edit.new.decode().splitlines()[3:7] == [
        "  SSLCertificateFile /etc/apache2/ssl/www-rsa.crt",
        "  SSLCertificateKeyFile /etc/apache2/ssl/www-rsa.key",
        "  SSLCertificateFile /etc/apache2/ssl/certs/www-ec.crt",
        "  SSLCertificateKeyFile /etc/apache2/ssl/private/www-ec.key"]


def test_postfix_ecdsa_pair_moves_on_its_own_lines(tmp_path: Path, ca: TestCA) -> None:
    main = ("myhostname = mx.example.com\n"
            "smtpd_tls_cert_file = /etc/postfix/ssl/certs/mx-rsa.crt\n"
            "smtpd_tls_key_file = /etc/postfix/ssl/private/mx-rsa.key\n"
            "smtpd_tls_eccert_file = /etc/ssl/certs/ssl-cert-snakeoil.pem\n"
            "smtpd_tls_eckey_file = /etc/ssl/private/ssl-cert-snakeoil.key\n"
            "smtpd_tls_security_level = may\n")
    host = make_tree(tmp_path, {
        "/etc/postfix/main.cf": main,
        "/etc/postfix/master.cf": "smtp inet n - y - - smtpd\n"})
    target = _targets(host)["postfix:ec"]
    plan = plan_slot(host, target, ca.material("mx-ec", ("mx.example.com",)),
                     spec_for(ServiceKind.POSTFIX), ServiceControl(host))
    (edit,) = plan.edits
    assert edit.new.decode().splitlines()[1:5] == [
        "smtpd_tls_cert_file = /etc/postfix/ssl/certs/mx-rsa.crt",
        "smtpd_tls_key_file = /etc/postfix/ssl/private/mx-rsa.key",
        "smtpd_tls_eccert_file = /etc/postfix/ssl/certs/mx-ec.crt",
        "smtpd_tls_eckey_file = /etc/postfix/ssl/private/mx-ec.key"]


def test_the_second_postfix_chain_file_moves_alone(tmp_path: Path, ca: TestCA) -> None:
    main = ("myhostname = mx.example.com\n"
            "smtpd_tls_chain_files = /etc/postfix/ssl/rsa.pem, /etc/ssl/private/ec.pem\n"
            "smtpd_tls_security_level = may\n")
    host = make_tree(tmp_path, {"/etc/postfix/main.cf": main,
                                "/etc/postfix/master.cf": "smtp inet n - y - - smtpd\n"})
    target = _targets(host)["postfix:cert2"]
    plan = plan_slot(host, target, ca.material("mx-ec", ("mx.example.com",)),
                     spec_for(ServiceKind.POSTFIX), ServiceControl(host))
    (combined,) = plan.files
    assert combined.spec.path == "/etc/postfix/ssl/private/mx-ec.pem"
    assert combined.data.lstrip().startswith(b"-----BEGIN PRIVATE KEY")  # key first
    (edit,) = plan.edits
    assert edit.new.decode().splitlines()[1] == (
        "smtpd_tls_chain_files = /etc/postfix/ssl/rsa.pem, /etc/postfix/ssl/private/mx-ec.pem")


def _plan(host: LocalHost, slot_id: str, ca: TestCA) -> str:
    target = _targets(host)[slot_id]
    plan = plan_slot(host, target, ca.material(NAME, target.names), spec_for(target.kind),
                     ServiceControl(host))
    (edit,) = plan.edits
    return edit.new.decode()


def test_one_credential_on_several_listeners_moves_on_every_line(tmp_path: Path,
                                                                ca: TestCA) -> None:
    pem = "/etc/ssl/private/web.pem"
    host = make_tree(tmp_path / "haproxy", {"/etc/haproxy/haproxy.cfg": (
        f"frontend web\n  bind :443 ssl crt {pem}\n  bind :::443 v6only ssl crt {pem}\n"
        f"  bind 192.0.2.10:8443,198.51.100.10:8443 ssl crt {pem}\n")})
    # the dual-stack pair and the two-address bind name one file, three times
    assert [line.split(" crt ")[1] for line in _plan(host, "haproxy:web", ca).splitlines()[1:]] \
        == [f"/etc/haproxy/ssl/private/{NAME}.pem"] * 3
    server = ("server {{\n  listen {};\n  server_name www.example.org;\n"
              "  ssl_certificate /etc/ssl/certs/ssl-cert-snakeoil.pem;\n"
              "  ssl_certificate_key /etc/ssl/private/ssl-cert-snakeoil.key;\n}}\n")
    host = make_tree(tmp_path / "nginx", {
        "/etc/nginx/nginx.conf": "events {}\nhttp {\n  include sites/*;\n}\n",
        "/etc/nginx/sites/www": server.format("443 ssl") + server.format("[::]:443 ssl")})
    # one server block per address family
    lines = _plan(host, "nginx:www.example.org", ca).splitlines()
    assert [n for n, line in enumerate(lines, 1)
            if f"ssl_certificate /etc/nginx/ssl/certs/{NAME}.crt;" in line] == [4, 10]


def test_a_value_on_a_continuation_line_is_edited_there(tmp_path: Path, ca: TestCA) -> None:
    main = ("smtpd_tls_cert_file =\n    /etc/ssl/certs/ssl-cert-snakeoil.pem\n"
            "smtpd_tls_key_file = /etc/ssl/private/ssl-cert-snakeoil.key\n"
            "smtpd_tls_security_level = may\n")
    host = make_tree(tmp_path / "postfix", {"/etc/postfix/main.cf": main,
                                            "/etc/postfix/master.cf":
                                                "smtp inet n - y - - smtpd\n"})
    assert _plan(host, "postfix", ca).splitlines()[:2] == [
        "smtpd_tls_cert_file =", f"    /etc/postfix/ssl/certs/{NAME}.crt"]
    conf = ("TLSCertificateFile\n\t/etc/ssl/certs/ssl-cert-snakeoil.pem\n"
            'TLSCertificateKeyFile \\\n  "/etc/ssl/private/snake oil.key"\n'
            "TLSCACertificateFile /etc/ssl/certs/ca.pem\n")
    host = make_tree(tmp_path / "slapd", {"/etc/ldap/slapd.conf": conf})
    assert _plan(host, "slapd", ca).splitlines()[:4] == [
        "TLSCertificateFile", f"\t/etc/ldap/ssl/certs/{NAME}.crt", "TLSCertificateKeyFile \\",
        f'  "/etc/ldap/ssl/private/{NAME}.key"']


def test_a_value_split_by_a_backslash_is_refused(tmp_path: Path, ca: TestCA) -> None:
    conf = ("<VirtualHost *:443>\n  ServerName www.example.com\n  SSLEngine on\n"
            "  SSLCertificateFile /etc/ssl/certs/ssl-cert-\\\nsnakeoil.pem\n"
            "  SSLCertificateKeyFile /etc/ssl/private/ssl-cert-snakeoil.key\n</VirtualHost>\n")
    host = make_tree(tmp_path, {"/etc/apache2/apache2.conf": conf})
    assert _targets(host)["apache2:www.example.com"].cert == \
        "/etc/ssl/certs/ssl-cert-snakeoil.pem"
    with pytest.raises(ConfigError, match="split over two lines by a backslash"):
        _plan(host, "apache2:www.example.com", ca)
