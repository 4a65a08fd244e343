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
