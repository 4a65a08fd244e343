"""Discovery records where Apache and nginx answer plain HTTP (ACME http-01 tokens go
under that document root): real configuration trees, read through the host seam."""

from __future__ import annotations

from pathlib import Path

from certmgr.programs import ServiceKind
from certmgr.programs.base import WebRoot, web_root_for
from tests.services.treehelp import discover

APACHE = ("ServerRoot /etc/apache2\nListen 80\nListen 443\nDocumentRoot /srv/main\n"
          "IncludeOptional sites-enabled/*.conf\n")


def roots(tmp_path: Path, files: dict[str, str | bytes], kind: ServiceKind) -> list[WebRoot]:
    found = discover(tmp_path, files)
    service = found.service(kind)
    assert service is not None, found.findings
    return list(service.webroots)


def test_apache_vhosts_on_port_80_by_server_name_and_alias(tmp_path: Path) -> None:
    sites = {
        "/etc/apache2/sites-enabled/000-default.conf":
            "<VirtualHost *:80>\n  DocumentRoot /var/www/html\n</VirtualHost>\n",
        "/etc/apache2/sites-enabled/shop.conf":
            "<VirtualHost *:80>\n  ServerName shop.example.com\n"
            "  ServerAlias *.shop.example.com\n  DocumentRoot \"/srv/shop/\"\n</VirtualHost>\n",
        "/etc/apache2/sites-enabled/tls.conf":
            "<VirtualHost *:443>\n  ServerName shop.example.com\n  DocumentRoot /srv/tls\n"
            "  SSLEngine on\n  SSLCertificateFile /etc/ssl/a.pem\n</VirtualHost>\n"}
    found = roots(tmp_path, {"/etc/apache2/apache2.conf": APACHE, **sites},
                  ServiceKind.APACHE2)
    assert [(r.root, r.names, r.port, r.default) for r in found] == [
        ("/var/www/html", (), 80, True),
        ("/srv/shop", ("shop.example.com", "*.shop.example.com"), 80, False)]
    assert web_root_for(found, "shop.example.com").root == "/srv/shop"  # type: ignore[union-attr]
    assert web_root_for(found, "a.shop.example.com").root == "/srv/shop"  # type: ignore[union-attr]
    # a name no vhost claims goes to the port's first vhost, as Apache does
    assert web_root_for(found, "other.example.com").root == "/var/www/html"  # type: ignore[union-attr]
    assert web_root_for(found, "shop.example.com", port=443) is None


def test_apache_main_server_answers_when_no_vhost_listens(tmp_path: Path) -> None:
    found = roots(tmp_path, {"/etc/apache2/apache2.conf": APACHE + "ServerName main.example\n"},
                  ServiceKind.APACHE2)
    assert found == [WebRoot("/srv/main", ("main.example",), 80, True)]


def test_apache_without_plain_listener_has_no_web_root(tmp_path: Path) -> None:
    conf = "ServerRoot /etc/apache2\nListen 443\nDocumentRoot /srv/main\n"
    assert roots(tmp_path, {"/etc/apache2/apache2.conf": conf}, ServiceKind.APACHE2) == []


def test_nginx_servers_listening_without_tls(tmp_path: Path) -> None:
    conf = ("events {}\nhttp {\n  root /usr/share/nginx/html;\n"
            "  server {\n    listen 80;\n    server_name www.example.com .example.org;\n"
            "    root /srv/www;\n  }\n"
            "  server {\n    listen 192.0.2.1:80 default_server;\n  }\n"
            "  server {\n    listen 8080;\n    server_name acme.example.com;\n"
            "    location /.well-known/acme-challenge/ {\n      root /var/lib/acme;\n    }\n"
            "  }\n"
            "  server {\n    listen 443 ssl;\n    server_name www.example.com;\n"
            "    root /srv/tls;\n    ssl_certificate /etc/ssl/a.pem;\n  }\n}\n")
    found = roots(tmp_path, {"/etc/nginx/nginx.conf": conf}, ServiceKind.NGINX)
    assert [(r.root, r.names, r.port, r.default) for r in found] == [
        ("/srv/www", ("www.example.com", "example.org", "*.example.org"), 80, False),
        ("/usr/share/nginx/html", (), 80, True),
        ("/var/lib/acme", ("acme.example.com",), 8080, True)]
    assert web_root_for(found, "a.example.org").root == "/srv/www"  # type: ignore[union-attr]
    assert web_root_for(found, "x.example.net").root == "/usr/share/nginx/html"  # type: ignore[union-attr]
    assert web_root_for(found, "acme.example.com", 8080).root == "/var/lib/acme"  # type: ignore[union-attr]


TOMCAT = """<?xml version="1.0"?>
<Server port="8005" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="8080" protocol="HTTP/1.1" />
    <Connector port="8009" protocol="AJP/1.3" />
    <Connector port="8443" SSLEnabled="true" scheme="https">
      <SSLHostConfig><Certificate certificateFile="conf/a.pem" /></SSLHostConfig>
    </Connector>
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" />
      <Host name="shop.example.com" appBase="/srv/shop">
        <Alias>www.shop.example.com</Alias>
        <Context path="" docBase="store" />
      </Host>
      <Host name="api.example.com" appBase="${catalina.base}/api-apps" />
    </Engine>
  </Service>
</Server>
"""


def test_tomcat_root_webapp_per_host_on_plain_connectors(tmp_path: Path) -> None:
    found = roots(tmp_path, {"/etc/tomcat10/server.xml": TOMCAT}, ServiceKind.TOMCAT)
    assert [(r.root, r.names, r.port, r.default) for r in found] == [
        ("/var/lib/tomcat10/webapps/ROOT", ("localhost",), 8080, True),
        ("/srv/shop/store", ("shop.example.com", "www.shop.example.com"), 8080, False),
        ("/var/lib/tomcat10/api-apps/ROOT", ("api.example.com",), 8080, False)]
    assert web_root_for(found, "www.shop.example.com", 8080).root == "/srv/shop/store"  # type: ignore[union-attr]
    # a name no Host claims goes to the Engine's defaultHost
    default = web_root_for(found, "other.example.com", 8080)
    assert default is not None and default.root == "/var/lib/tomcat10/webapps/ROOT"
    # neither the AJP nor the TLS connector is a web root
    assert web_root_for(found, "shop.example.com", 8443) is None
    assert web_root_for(found, "shop.example.com", 8009) is None


def test_tomcat_catalina_base_from_default_file(tmp_path: Path) -> None:
    conf = TOMCAT.replace('port="8080"', 'port="80"')
    found = roots(tmp_path, {"/etc/tomcat9/server.xml": conf,
                             "/etc/default/tomcat9": "CATALINA_BASE=/opt/tc\n"},
                  ServiceKind.TOMCAT)
    assert web_root_for(found, "localhost").root == "/opt/tc/webapps/ROOT"  # type: ignore[union-attr]
    assert web_root_for(found, "api.example.com").root == "/opt/tc/api-apps/ROOT"  # type: ignore[union-attr]


def test_tomcat_with_only_tls_connectors_has_no_web_root(tmp_path: Path) -> None:
    conf = TOMCAT.replace('<Connector port="8080" protocol="HTTP/1.1" />', "")
    conf = conf.replace('<Connector port="8009" protocol="AJP/1.3" />', "")
    assert roots(tmp_path, {"/etc/tomcat10/server.xml": conf}, ServiceKind.TOMCAT) == []
