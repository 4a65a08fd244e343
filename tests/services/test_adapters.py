"""Each adapter on small trees: the settings it reads, the slots and ids it reports."""

from __future__ import annotations

import base64
from pathlib import Path

from certmgr.models import Endpoint, TlsMode
from certmgr.programs import ServiceKind, Slot
from tests.services.treehelp import discover


def slots(root: Path, files: dict[str, str | bytes], kind: ServiceKind) -> dict[str, Slot]:
    result = discover(root, files)
    assert result.findings == (), result.findings
    service = result.service(kind)
    assert service is not None
    return {s.id: s for s in service.slots}


def test_apache_vhosts_names_aliases_and_duplicate_ids(tmp_path: Path) -> None:
    conf = """
ServerRoot /etc/apache2
Listen 443 https
<VirtualHost *:443>
    ServerName www.example.com
    ServerAlias example.com \\
        static.example.com
    SSLEngine on
    SSLCertificateFile "/etc/apache2/ssl/certs/www.crt"
    SSLCertificateKeyFile /etc/apache2/ssl/private/www.key
    SSLCertificateChainFile /etc/apache2/ssl/certs/www-chain.crt
</VirtualHost>
<VirtualHost 192.0.2.1:8443>
    ServerName www.example.com
    SSLEngine on
    SSLCertificateFile /etc/apache2/ssl/private/combined.pem
</VirtualHost>
<VirtualHost *:80>
    ServerName plain.example.com
</VirtualHost>
<IfModule !mod_ssl.c>
    <VirtualHost *:443>
        SSLEngine on
        SSLCertificateFile /never.pem
    </VirtualHost>
</IfModule>
"""
    found = slots(tmp_path, {"/etc/apache2/apache2.conf": conf}, ServiceKind.APACHE2)
    assert set(found) == {"apache2:www.example.com:443", "apache2:www.example.com:8443"}
    www = found["apache2:www.example.com:443"]
    assert www.names == ("www.example.com", "example.com", "static.example.com")
    assert www.chain == "/etc/apache2/ssl/certs/www-chain.crt"
    combined = found["apache2:www.example.com:8443"]
    assert combined.cert == combined.key == "/etc/apache2/ssl/private/combined.pem"
    assert combined.endpoints == (Endpoint("192.0.2.1", 8443, TlsMode.DIRECT, "www.example.com"),)


def test_slapd_cn_config_base64_and_folded_values(tmp_path: Path) -> None:
    key = base64.b64encode(b"/etc/ldap/ssl/private/ldap.key").decode()
    ldif = ("dn: cn=config\nobjectClass: olcGlobal\ncn: config\n"
            "olcTLSCertificateFile: /etc/ldap/ssl/ce\n rts/ldap.crt\n"
            f"olcTLSCertificateKeyFile:: {key}\n")
    found = slots(tmp_path, {"/etc/ldap/slapd.d/cn=config.ldif": ldif,
                             "/etc/default/slapd": 'SLAPD_SERVICES="ldaps://127.0.0.1:1636/"\n'},
                  ServiceKind.SLAPD)
    slot = found["slapd"]
    assert slot.cert == "/etc/ldap/ssl/certs/ldap.crt"
    assert slot.key == "/etc/ldap/ssl/private/ldap.key"
    assert slot.endpoints == (Endpoint("127.0.0.1", 1636, TlsMode.DIRECT),)


def test_slapd_conf_of_old_releases(tmp_path: Path) -> None:
    conf = "include /etc/ldap/schema/core.schema\nTLSCertificateFile /etc/ldap/c.pem\n" \
           "TLSCertificateKeyFile /etc/ldap/k.pem\nTLSCACertificateFile /etc/ldap/ca.pem\n"
    found = slots(tmp_path, {"/etc/ldap/slapd.conf": conf}, ServiceKind.SLAPD)
    assert found["slapd"].ca == "/etc/ldap/ca.pem"


def test_vsftpd_implicit_tls_and_default_key(tmp_path: Path) -> None:
    conf = "listen=YES\nssl_enable=YES\nimplicit_ssl=YES\nlisten_port=990\n" \
           "rsa_cert_file=/etc/vsftpd/ssl/ftp.pem\n"
    slot = slots(tmp_path, {"/etc/vsftpd.conf": conf}, ServiceKind.VSFTPD)["vsftpd"]
    assert slot.key == "/etc/vsftpd/ssl/ftp.pem"
    assert slot.endpoints == (Endpoint("*", 990, TlsMode.DIRECT),)


def test_postfix_master_cf_override_is_its_own_slot(tmp_path: Path) -> None:
    main = ("myhostname = mx.example.com\nconfig_directory = /etc/postfix\n"
            "smtpd_tls_cert_file = $config_directory/ssl/certs/mx.crt\n"
            "smtpd_tls_key_file = ${config_directory}/ssl/private/mx.key\n"
            "smtpd_tls_security_level = may\n")
    master = ("smtp      inet  n       -       y       -       -       smtpd\n"
              "submission inet n       -       y       -       -       smtpd\n"
              "  -o smtpd_tls_security_level=encrypt\n"
              "  -o smtpd_tls_cert_file=/etc/postfix/ssl/certs/sub.crt\n"
              "  -o smtpd_tls_key_file=/etc/postfix/ssl/private/sub.key\n"
              "127.0.0.1:smtps inet n  -       y       -       -       smtpd\n"
              "  -o smtpd_tls_wrappermode=yes\n"
              "pickup    unix  n       -       y       60      1       pickup\n")
    found = slots(tmp_path, {"/etc/postfix/main.cf": main, "/etc/postfix/master.cf": master},
                  ServiceKind.POSTFIX)
    assert set(found) == {"postfix", "postfix:submission"}
    main_slot = found["postfix"]
    assert main_slot.cert == "/etc/postfix/ssl/certs/mx.crt"
    assert main_slot.names == ("mx.example.com",)
    assert main_slot.endpoints == (Endpoint("*", 25, TlsMode.STARTTLS_SMTP),
                                   Endpoint("127.0.0.1", 465, TlsMode.DIRECT))
    assert found["postfix:submission"].key == "/etc/postfix/ssl/private/sub.key"


def test_dovecot_23_local_name_and_protocol_blocks(tmp_path: Path) -> None:
    conf = ("protocols = imap pop3\n!include conf.d/*.conf\n"
            "local_name mail.example.com {\n  ssl_cert = </etc/dovecot/ssl/mail.crt\n"
            "  ssl_key = </etc/dovecot/ssl/mail.key\n}\n"
            "protocol pop3 {\n  ssl_cert = </etc/dovecot/ssl/pop.crt\n"
            "  ssl_key = </etc/dovecot/ssl/pop.key\n}\n")
    ssl = ("ssl = required\nssl_cert = </etc/dovecot/ssl/top.crt\n"
           "ssl_key = </etc/dovecot/ssl/top.key\nssl_key_password = secret\n")
    found = slots(tmp_path, {"/etc/dovecot/dovecot.conf": conf,
                             "/etc/dovecot/conf.d/10-ssl.conf": ssl}, ServiceKind.DOVECOT)
    assert set(found) == {"dovecot", "dovecot:mail.example.com", "dovecot:pop3"}
    assert found["dovecot"].config == "/etc/dovecot/conf.d/10-ssl.conf"
    assert found["dovecot"].password == "secret"
    named = found["dovecot:mail.example.com"]
    assert named.names == ("mail.example.com",)
    assert {e.sni for e in named.endpoints} == {"mail.example.com"}
    assert {e.port for e in found["dovecot:pop3"].endpoints} == {110, 995}


def test_dovecot_24_settings(tmp_path: Path) -> None:
    conf = ("dovecot_config_version = 2.4.0\nprotocols = imap\n"
            "ssl_server_cert_file = /etc/dovecot/ssl/c.crt\n"
            "ssl_server_key_file = /etc/dovecot/ssl/c.key\n"
            "service imap-login {\n  inet_listener imaps {\n    port = 10993\n    ssl = yes\n"
            "  }\n}\n")
    slot = slots(tmp_path, {"/etc/dovecot/dovecot.conf": conf}, ServiceKind.DOVECOT)["dovecot"]
    assert slot.key == "/etc/dovecot/ssl/c.key"
    assert {(e.port, e.tls) for e in slot.endpoints} == {
        (143, TlsMode.STARTTLS_IMAP), (10993, TlsMode.DIRECT)}


def test_tomcat_sslhostconfig_pem_and_keystore(tmp_path: Path) -> None:
    xml = """<Server port="-1"><Service name="Catalina">
  <Connector port="8443" SSLEnabled="true" address="127.0.0.1">
    <SSLHostConfig>
      <Certificate certificateKeystoreFile="conf/ks.p12" certificateKeystoreType="PKCS12"
                   certificateKeystorePassword="s3cret" type="RSA"/>
      <Certificate certificateFile="${catalina.base}/conf/ec.crt"
                   certificateKeyFile="conf/ec.key" type="EC"/>
    </SSLHostConfig>
    <SSLHostConfig hostName="shop.example.com">
      <Certificate certificateFile="/etc/tomcat10/ssl/shop.crt" type="RSA"/>
    </SSLHostConfig>
  </Connector>
</Service></Server>"""
    found = slots(tmp_path, {"/etc/tomcat10/server.xml": xml,
                             "/lib/systemd/system/tomcat10.service": "[Service]\nUser=tomcat\n"},
                  ServiceKind.TOMCAT)
    assert set(found) == {"tomcat:8443-rsa", "tomcat:8443-ec", "tomcat:8443-shop.example.com-rsa"}
    ks = found["tomcat:8443-rsa"]
    assert ks.keystore == "/var/lib/tomcat10/conf/ks.p12" and ks.keystore_type == "PKCS12"
    assert ks.password == "s3cret"
    assert found["tomcat:8443-ec"].key == "/var/lib/tomcat10/conf/ec.key"
    shop = found["tomcat:8443-shop.example.com-rsa"]
    assert shop.names == ("shop.example.com",)
    assert shop.endpoints == (Endpoint("127.0.0.1", 8443, TlsMode.DIRECT, "shop.example.com"),)


def test_tomcat_101_ignores_connector_keystore(tmp_path: Path) -> None:
    xml = ('<Server><Service name="C">\n<Connector port="8443" SSLEnabled="true"\n'
           ' keystoreFile="/etc/tomcat10/ks.jks" keystorePass="changeit"/>\n</Service></Server>')
    result = discover(tmp_path, {"/etc/tomcat10/server.xml": xml})
    assert [(f.code, f.line) for f in result.findings] == [("CONFIG_ERROR", 2)]
    service = result.service(ServiceKind.TOMCAT)
    assert service is not None and service.slots == ()


def test_nginx_server_blocks_through_crossplane(tmp_path: Path) -> None:
    conf = ("events {}\nhttp {\n  ssl_certificate_key /etc/nginx/ssl/default.key;\n"
            "  include sites/*.conf;\n}\n")
    site = ("server {\n  listen 443 ssl;\n  listen [::]:443 ssl;\n"
            "  server_name www.example.com example.com;\n"
            "  ssl_certificate /etc/nginx/ssl/www.crt;\n}\n"
            "server {\n  listen 80;\n  server_name plain.example.com;\n}\n")
    found = slots(tmp_path, {"/etc/nginx/nginx.conf": conf, "/etc/nginx/sites/a.conf": site},
                  ServiceKind.NGINX)
    www = found["nginx:www.example.com"]
    assert www.key == "/etc/nginx/ssl/default.key"
    assert www.config == "/etc/nginx/sites/a.conf"
    assert [e.address for e in www.endpoints] == ["*", "::"]


def test_haproxy_crt_file_and_directory(tmp_path: Path) -> None:
    cfg = ("global\n  crt-base /etc/haproxy/ssl\ndefaults\n  mode http\n"
           "frontend web\n  bind :443,127.0.0.1:8443 ssl crt site.pem alpn h2\n"
           "listen multi\n  bind 127.0.0.1:9443 ssl crt /etc/haproxy/certs/\n")
    found = slots(tmp_path, {"/etc/haproxy/haproxy.cfg": cfg,
                             "/etc/haproxy/certs/a.pem": "x", "/etc/haproxy/certs/b.pem": "x",
                             "/etc/haproxy/certs/b.pem.key": "x"}, ServiceKind.HAPROXY)
    assert set(found) == {"haproxy:web", "haproxy:multi:a", "haproxy:multi:b"}
    assert found["haproxy:web"].cert == "/etc/haproxy/ssl/site.pem"
    assert found["haproxy:multi:b"].key == "/etc/haproxy/certs/b.pem.key"
    assert [e.port for e in found["haproxy:web"].endpoints] == [443, 8443]


def test_apache_wildcard_vhost_answers_on_the_listen_addresses(tmp_path: Path) -> None:
    conf = ("Listen 192.0.2.1:443\nListen [2001:db8::1]:443\n<VirtualHost *:443>\n"
            "  SSLEngine on\n  SSLCertificateFile /etc/apache2/a.pem\n</VirtualHost>\n")
    slot = slots(tmp_path, {"/etc/apache2/apache2.conf": conf},
                 ServiceKind.APACHE2)["apache2:_default_"]
    assert [e.address for e in slot.endpoints] == ["192.0.2.1", "2001:db8::1"]
    assert slot.names == ("host.example.net",) and slot.names_from == "host"


def test_tabs_separate_arguments(tmp_path: Path) -> None:
    conf = ("<VirtualHost\t*:443>\n\tServerName\ttab.example.com\n\tSSLEngine\ton\n"
            "\tSSLCertificateFile\t/etc/apache2/t.pem\n</VirtualHost>\n")
    found = slots(tmp_path, {"/etc/apache2/apache2.conf": conf}, ServiceKind.APACHE2)
    assert found["apache2:tab.example.com"].cert == "/etc/apache2/t.pem"


def test_dovecot_24_ssl_server_block(tmp_path: Path) -> None:
    conf = ("protocols = pop3\nssl_server {\n  cert_file = /etc/dovecot/ssl/b.crt\n"
            "  key_file = /etc/dovecot/ssl/b.key\n}\n")
    slot = slots(tmp_path, {"/etc/dovecot/dovecot.conf": conf}, ServiceKind.DOVECOT)["dovecot"]
    assert (slot.cert, slot.key) == ("/etc/dovecot/ssl/b.crt", "/etc/dovecot/ssl/b.key")


def test_haproxy_crt_list_gives_names(tmp_path: Path) -> None:
    cfg = ("global\n  crt-base /etc/haproxy/ssl\nfrontend web\n"
           "  bind :443 ssl crt-list /etc/haproxy/list.txt\n")
    crt_list = ("# certificates by name\nshop.pem [alpn h2] shop.example.com *.shop.example.com\n"
                "/etc/haproxy/ssl/default.pem\n")
    found = slots(tmp_path, {"/etc/haproxy/haproxy.cfg": cfg, "/etc/haproxy/list.txt": crt_list},
                  ServiceKind.HAPROXY)
    shop = found["haproxy:web:shop"]
    assert shop.cert == "/etc/haproxy/ssl/shop.pem"
    assert shop.names == ("shop.example.com", "*.shop.example.com")
    assert shop.names_from == "config"
    assert found["haproxy:web:default"].names_from == "host"
    # Each entry is set on its own line of the list, not on the bind line.
    assert (shop.settings["cert"].path, shop.settings["cert"].line) == (
        "/etc/haproxy/list.txt", 2)
    assert found["haproxy:web:default"].settings["cert"].line == 3


def test_nginx_dot_names_and_regexes(tmp_path: Path) -> None:
    conf = ("events {}\nhttp {\n  server {\n    listen 443 ssl;\n"
            "    server_name .example.com ~^www\\d+ _;\n    ssl_certificate /etc/nginx/a.pem;\n"
            "  }\n}\n")
    found = slots(tmp_path, {"/etc/nginx/nginx.conf": conf}, ServiceKind.NGINX)
    assert found["nginx:example.com"].names == ("example.com", "*.example.com")


def test_nginx_stream_servers_terminating_tls(tmp_path: Path) -> None:
    conf = ("events {}\n"
            "http {\n  server {\n    listen 443 ssl;\n    server_name www.example.com;\n"
            "    ssl_certificate /etc/nginx/ssl/www.crt;\n"
            "    ssl_certificate_key /etc/nginx/ssl/www.key;\n  }\n}\n"
            "stream {\n  ssl_certificate_key /etc/nginx/ssl/mail.key;\n"
            "  server {\n    listen 993 ssl;\n    ssl_certificate /etc/nginx/ssl/mail.crt;\n"
            "    proxy_pass 127.0.0.1:143;\n  }\n"
            "  server {\n    listen 5432;\n    proxy_pass 127.0.0.1:5433;\n  }\n}\n")
    found = slots(tmp_path, {"/etc/nginx/nginx.conf": conf}, ServiceKind.NGINX)
    assert set(found) == {"nginx:www.example.com", "nginx:stream:993"}
    mail = found["nginx:stream:993"]
    assert (mail.cert, mail.key) == ("/etc/nginx/ssl/mail.crt", "/etc/nginx/ssl/mail.key")
    assert [(e.port, e.tls) for e in mail.endpoints] == [(993, TlsMode.DIRECT)]
    assert mail.names_from == "host"  # stream servers name no host: the host's own name
    assert mail.settings["cert"].line == 14


def test_apache_rsa_and_ecdsa_pairs_are_two_slots(tmp_path: Path) -> None:
    conf = ("Listen 443\n<VirtualHost *:443>\n  ServerName www.example.com\n  SSLEngine on\n"
            "  SSLCertificateFile /etc/apache2/ssl/www-rsa.crt\n"
            "  SSLCertificateKeyFile /etc/apache2/ssl/www-rsa.key\n"
            "  SSLCertificateFile /etc/apache2/ssl/www-ec.crt\n"
            "  SSLCertificateKeyFile /etc/apache2/ssl/www-ec.key\n"
            "  SSLCertificateChainFile /etc/apache2/ssl/chain.crt\n</VirtualHost>\n")
    found = slots(tmp_path, {"/etc/apache2/apache2.conf": conf}, ServiceKind.APACHE2)
    assert set(found) == {"apache2:www.example.com", "apache2:www.example.com:cert2"}
    rsa, ec = found["apache2:www.example.com"], found["apache2:www.example.com:cert2"]
    assert (rsa.cert, rsa.key) == ("/etc/apache2/ssl/www-rsa.crt", "/etc/apache2/ssl/www-rsa.key")
    assert (ec.cert, ec.key) == ("/etc/apache2/ssl/www-ec.crt", "/etc/apache2/ssl/www-ec.key")
    assert rsa.chain == ec.chain == "/etc/apache2/ssl/chain.crt"
    assert [ec.settings[r].line for r in ("cert", "key")] == [7, 8]
    assert rsa.endpoints == ec.endpoints


def test_postfix_ecdsa_pair_beside_the_rsa_one(tmp_path: Path) -> None:
    main = ("myhostname = mx.example.com\n"
            "smtpd_tls_cert_file = /etc/postfix/ssl/certs/mx-rsa.crt\n"
            "smtpd_tls_key_file = /etc/postfix/ssl/private/mx-rsa.key\n"
            "smtpd_tls_eccert_file = /etc/postfix/ssl/certs/mx-ec.crt\n"
            "smtpd_tls_eckey_file = /etc/postfix/ssl/private/mx-ec.key\n"
            "smtpd_tls_security_level = may\n")
    master = "smtp      inet  n       -       y       -       -       smtpd\n"
    found = slots(tmp_path, {"/etc/postfix/main.cf": main, "/etc/postfix/master.cf": master},
                  ServiceKind.POSTFIX)
    assert set(found) == {"postfix", "postfix:ec"}
    ec = found["postfix:ec"]
    assert (ec.cert, ec.key) == ("/etc/postfix/ssl/certs/mx-ec.crt",
                                 "/etc/postfix/ssl/private/mx-ec.key")
    assert {r: (s.directive, s.line) for r, s in ec.settings.items()} == {
        "cert": ("smtpd_tls_eccert_file", 4), "key": ("smtpd_tls_eckey_file", 5)}
    assert ec.endpoints == found["postfix"].endpoints == (
        Endpoint("*", 25, TlsMode.STARTTLS_SMTP),)


def test_postfix_chain_files_rsa_and_ecdsa_are_two_slots(tmp_path: Path) -> None:
    main = ("myhostname = mx.example.com\n"
            "smtpd_tls_chain_files = /etc/postfix/ssl/rsa.pem, /etc/postfix/ssl/ec.pem\n"
            "smtpd_tls_security_level = may\n")
    master = "smtp inet n - y - - smtpd\n"
    found = slots(tmp_path, {"/etc/postfix/main.cf": main, "/etc/postfix/master.cf": master},
                  ServiceKind.POSTFIX)
    assert set(found) == {"postfix", "postfix:cert2"}
    rsa, ec = found["postfix"], found["postfix:cert2"]
    assert (rsa.cert, rsa.key) == ("/etc/postfix/ssl/rsa.pem", "/etc/postfix/ssl/rsa.pem")
    assert (ec.cert, ec.key) == ("/etc/postfix/ssl/ec.pem", "/etc/postfix/ssl/ec.pem")
    assert (ec.settings["cert"].line, ec.settings["cert"].index) == (2, 1)
    assert rsa.settings["cert"].index == 0
    assert ec.endpoints == rsa.endpoints != ()
